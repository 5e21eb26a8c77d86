"""The report as a PDF (A4): headline figures, the per-department table, charts (trend of 及时率 and
合规率 over the last 12 periods, quarantine backlog by age, by-department bars), the late and quarantine
lists, and the notes — on the project's one PDF layer (:mod:`creditflow.core.pdf`: font, wrapping, tables).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from creditflow.common import mask_text
from creditflow.core import pdf as layer
from creditflow.feedback.xlsx import DUP_ZH, HEADLINE, NOT_PUBLISHED_ZH, RATE, notes_rows

ROWS_PER_PAGE = 28
DEPARTMENT_COLUMNS = ("承办科室", "产生数量", "报送数量", "平台入库数量", "未报送数量", "未报送原因")


def _fmt(value: Any, kind: str = "") -> str:
    if value is None:
        return "—"
    if kind == RATE and isinstance(value, (int, float)):
        return f"{value:.2%}"
    if isinstance(value, float) and value.is_integer():
        return f"{int(value):,}"
    if isinstance(value, int):
        return f"{value:,}"
    return mask_text(value)


def _wrap(text: Any, width: int) -> str:
    """A cell's text in lines of about ``width`` Chinese characters (:func:`creditflow.core.pdf.wrap`), each
    masked: a fragment of a long number must not read as an ID either."""
    return "\n".join(mask_text(x) for x in layer.wrap(text, width))


def _page(title: str, report: dict[str, Any]) -> Any:
    subtitle = f"{report['title']}（{report['period_zh']}） · 数据截止 {report['cut_off_zh']}"
    return layer.page(title=title, subtitle=subtitle)


def _summary_page(pdf: Any, report: dict[str, Any]) -> None:
    fig = _page("一、主要指标", report)
    h, cmp_rows = report["headline"], {r["metric"]: r for r in report["comparison"]["rows"]}
    rows = []
    for key, name, kind in HEADLINE[:9]:
        c, t = cmp_rows.get(key, {}), report["targets"].get(key)
        met = "" if not t or t["met"] is None else ("达标" if t["met"] else "未达标")
        rows.append([name, _fmt(h.get(key), kind), _fmt(t and t["min"], RATE) + (f" {met}" if met else ""),
                     _fmt(c.get("previous"), kind), _fmt(c.get("last_year"), kind)])
    header = ["指标", "本期", "目标", f"上期 {report['comparison']['previous_period']}",
              f"去年同期 {report['comparison']['last_year_period']}"]
    bottom = layer.table(fig, [0.06, 0.5, 0.88, 0.41], header, rows, [0.3, 0.15, 0.18, 0.18, 0.19], fontsize=9)
    np_rows = [[f"未报送：{zh}", _fmt(h["not_published"][k])] for k, zh in NOT_PUBLISHED_ZH.items()]
    np_rows.append(["未报送：无法读取的区县报送文件（个，所含决定数不详）", _fmt(h.get("unreadable_files", 0))])
    np_rows += [[f"拦截重复：{zh}", _fmt(h["duplicates"][k])] for k, zh in DUP_ZH.items()]
    layer.table(fig, [0.06, 0.1, 0.5, bottom - 0.04 - 0.1], ["未报送与重复", "记录数"], np_rows, [0.7, 0.3], fontsize=9)
    fig.text(0.06, 0.05, _wrap("口径：及时率 = 按期公开数 ÷（按期公开数 + 逾期数）；合规率 = 平台入库数量 ÷ 报送数量；"
                               "完整率 = 已填写的必填项 ÷ 必填项。全部定义与来源见“说明”页及XLSX“说明”工作表。", 60),
             fontsize=7.5, va="bottom")
    pdf.savefig(fig)


def _department_pages(pdf: Any, report: dict[str, Any]) -> None:
    rows = [[_wrap(r["承办科室"], 12), _fmt(r["产生数量"]), _fmt(r["报送数量"]), _fmt(r["平台入库数量"]),
             _fmt(r["未报送数量"]), _wrap(mask_text(r["未报送原因"]), 22)] for r in report["department_table"]]
    for i in range(0, max(len(rows), 1), ROWS_PER_PAGE // 2):
        fig = _page("二、各承办科室报送情况", report)
        layer.table(fig, [0.04, 0.06, 0.92, 0.86], list(DEPARTMENT_COLUMNS), rows[i:i + ROWS_PER_PAGE // 2],
                    [0.22, 0.1, 0.1, 0.12, 0.1, 0.36])
        pdf.savefig(fig)


def _chart_page(pdf: Any, report: dict[str, Any]) -> None:
    fig = _page("三、趋势与分布", report)
    trend = report["trend"]
    ax = fig.add_axes([0.1, 0.66, 0.82, 0.22])
    x = list(range(len(trend)))
    for key, label, color in (("timely_rate", "及时率", "#1F4E79"), ("compliance_rate", "合规率", "#C55A11")):
        ys = [p[key] * 100 if p[key] is not None else float("nan") for p in trend]
        ax.plot(x, ys, marker="o", label=label, color=color)
    ax.set_xticks(x, [p["label"] for p in trend], fontsize=7)
    ax.set_ylabel("%")
    ax.set_ylim(0, 105)
    ax.set_title(f"近{len(trend)}期及时率与合规率", fontsize=10)
    ax.legend(fontsize=8, loc="lower left")
    ax.grid(alpha=0.3)
    ax = fig.add_axes([0.1, 0.38, 0.82, 0.19])
    backlog = report["backlog_by_age"]
    ax.bar([b["bucket"] for b in backlog], [b["count"] for b in backlog], color="#A5A5A5")
    for i, b in enumerate(backlog):
        ax.text(i, b["count"], str(b["count"]), ha="center", va="bottom", fontsize=8)
    ax.set_title("隔离区积压（按在隔离区天数，截止时点）", fontsize=10)
    ax.tick_params(labelsize=8)
    ax = fig.add_axes([0.34, 0.06, 0.58, 0.24])
    depts = [r for r in report["department_table"] if r["承办科室"] != "合计"][:15]
    names = [_wrap(r["承办科室"], 14) for r in depts]
    y = list(range(len(depts)))
    ax.barh([v + 0.2 for v in y], [r["产生数量"] for r in depts], height=0.4, label="产生数量", color="#9DC3E6")
    ax.barh([v - 0.2 for v in y], [r["平台入库数量"] for r in depts], height=0.4, label="平台入库数量", color="#1F4E79")
    ax.set_yticks(y, names, fontsize=7)
    ax.invert_yaxis()
    ax.set_title("各承办科室产生与入库数量", fontsize=10)
    ax.legend(fontsize=7, loc="lower right")
    ax.tick_params(axis="x", labelsize=7)
    pdf.savefig(fig)


def _list_pages(pdf: Any, report: dict[str, Any], title: str, rows: list[dict[str, Any]], columns: list[str],
                widths: list[float], wraps: dict[str, int], limit: int = 3 * ROWS_PER_PAGE) -> None:
    shown = rows[:limit]
    cells = [[_wrap(_fmt(r.get(c)), wraps.get(c, 40)) for c in columns] for r in shown]
    for i in range(0, max(len(cells), 1), ROWS_PER_PAGE):
        fig = _page(title, report)
        layer.table(fig, [0.03, 0.08, 0.94, 0.84], columns, cells[i:i + ROWS_PER_PAGE], widths, fontsize=6.5)
        if len(rows) > limit and i + ROWS_PER_PAGE >= len(cells):
            fig.text(0.05, 0.04, f"共 {len(rows)} 条，此处列出前 {limit} 条；完整清单见XLSX。", fontsize=8)
        pdf.savefig(fig)


def _sections_page(pdf: Any, report: dict[str, Any]) -> None:
    """The credit sections (严重失信名单, 信用修复): their rows."""
    fig = _page("六、严重失信主体名单与信用修复", report)
    top = 0.9
    for section in report["sections"]:
        fig.text(0.05, top, section["title"], fontsize=10, va="top")
        rows = [[_fmt(r.get(c), RATE if c.endswith("率") else "") for c in section["columns"]]
                for r in section["rows"]]
        n = len(section["columns"])
        top = layer.table(fig, [0.05, 0.1, 0.9, top - 0.03 - 0.1], section["columns"], rows, [1 / n] * n) - 0.05
    pdf.savefig(fig)


def _notes_pages(pdf: Any, report: dict[str, Any]) -> None:
    rows = [[_wrap(r["项目"], 10), _wrap(r["定义"], 34), _wrap(r["核实状态"], 6), _wrap(r["来源"], 20)]
            for r in notes_rows(report)]
    per = 10
    for i in range(0, len(rows), per):
        fig = _page("七、口径与来源说明", report)
        layer.table(fig, [0.03, 0.04, 0.94, 0.88], ["项目", "定义", "核实状态", "来源"], rows[i:i + per],
                    [0.15, 0.5, 0.09, 0.3], fontsize=6.5)
        pdf.savefig(fig)


def write(report: dict[str, Any], path: str | Path) -> Path:
    out = Path(path)
    with layer.document(out, f"{report['title']}（{report['period_zh']}）", f"数据截止 {report['cut_off_zh']}") as pdf:
        _summary_page(pdf, report)
        _department_pages(pdf, report)
        _chart_page(pdf, report)
        _list_pages(pdf, report, "四、逾期公开明细", report["late"],
                    ["类别", "记录", "决定书文号", "承办科室", "决定日期", "公开期限", "公开日期", "逾期工作日"],
                    [0.08, 0.22, 0.17, 0.15, 0.09, 0.09, 0.11, 0.09], {"记录": 16, "决定书文号": 12, "承办科室": 10})
        _list_pages(pdf, report, "五、未报送：问题数据（隔离区）", report["quarantine"],
                    ["类别", "记录", "决定书文号", "规则", "字段", "责任方", "隔离天数"],
                    [0.08, 0.22, 0.15, 0.14, 0.12, 0.21, 0.08],
                    {"记录": 16, "决定书文号": 11, "规则": 10, "字段": 8, "责任方": 15})
        if report.get("unreadable"):  # district files whose decisions cannot be counted: named, with the reason
            _list_pages(pdf, report, "五之二、未报送：无法读取的区县报送文件", report["unreadable"],
                        ["类别", "区县", "文件", "接收日期", "未报送原因", "所含决定数"],
                        [0.09, 0.09, 0.26, 0.1, 0.32, 0.14], {"文件": 22, "未报送原因": 26, "所含决定数": 10})
        _sections_page(pdf, report)
        _notes_pages(pdf, report)
    return out
