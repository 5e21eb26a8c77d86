"""The report as a workbook a clerk forwards without editing: a summary sheet, one sheet per section,
frozen headers, number formats, Chinese labels, and a 说明 sheet with every definition and its source.

Cells hold the figures of :func:`creditflow.feedback.build.compute` as they are; every text passes
through :func:`creditflow.common.mask_text` on its way in.
"""

from __future__ import annotations

import datetime as dt
from copy import copy
from pathlib import Path
from typing import Any

from creditflow.common import mask_text
from creditflow.feedback.figures import DUP_ZH, STATUS_ZH
from creditflow.feedback.periods import rule_data

__all__ = ["DUP_ZH", "HEADLINE", "NOT_PUBLISHED_ZH", "RATE", "notes_rows", "write"]

RATE, INT, TEXT = "rate", "int", "text"
HEADLINE = (("decisions", "产生数量", INT), ("submitted", "报送数量", INT), ("accepted", "平台入库数量", INT),
            ("timely_rate", "及时率", RATE), ("late_rate", "迟报率", RATE),
            ("compliance_rate", "合规率（有效入库率）", RATE),
            ("first_pass_rate", "首次校验通过率", RATE), ("completeness_rate", "完整率", RATE),
            ("correction_rate", "纠正率", RATE), ("timely", "按期公开", INT), ("late", "逾期", INT),
            ("not_yet_due", "未到期未公开", INT), ("extracted", "抽取记录数（含重复副本）", INT),
            ("corrections", "更正", INT), ("withdrawals", "撤销", INT), ("published_new", "新增公开（按公开日）", INT))
BREAKDOWN = (("label", "分组", TEXT), ("decisions", "产生数量", INT), ("submitted", "报送数量", INT),
             ("accepted", "平台入库数量", INT), ("timely_rate", "及时率", RATE), ("compliance_rate", "合规率", RATE),
             ("first_pass_rate", "首次校验通过率", RATE), ("completeness_rate", "完整率", RATE),
             ("not_published", "未报送数量", INT), ("duplicates", "拦截重复", INT))
NOT_PUBLISHED_ZH = {**{k: v for k, v in STATUS_ZH.items() if k != "published"}, "total": "合计"}


def _styles() -> dict[str, Any]:
    from openpyxl.styles import Alignment, Border, Font, PatternFill, Side

    thin = Side(style="thin", color="B7BDC4")
    return {"head_font": Font(bold=True, color="FFFFFF"), "head_fill": PatternFill("solid", fgColor="1F4E79"),
            "title": Font(bold=True, size=14), "bold": Font(bold=True),
            "wrap": Alignment(wrap_text=True, vertical="top"),
            "border": Border(left=thin, right=thin, top=thin, bottom=thin)}


def _cell(value: Any, kind: str) -> Any:
    if value is None:
        return "—"
    if kind == TEXT or isinstance(value, str):
        return mask_text(value)
    return value


def as_text(cell: Any) -> Any:
    """Text stays text: openpyxl takes a str starting with "=" for a formula (data type "f"), and a 文号 or
    fact "=HYPERLINK(…)" would be a live formula in the report — written as a string instead (OWASP CSV
    injection). Works for write-only cells too."""
    if cell.data_type == "f":
        cell.data_type = "s"
    return cell


def _table(ws: Any, columns: list[tuple[str, str, str]], rows: list[dict[str, Any]], top: int = 1,
           widths: dict[str, int] | None = None) -> int:
    """Header at row ``top`` (frozen), then the rows; returns the next free row."""
    from openpyxl.utils import get_column_letter

    st = _styles()
    for j, (_, header, _) in enumerate(columns, start=1):
        c = ws.cell(row=top, column=j, value=header)
        c.font, c.fill, c.border, c.alignment = st["head_font"], st["head_fill"], st["border"], st["wrap"]
        width = (widths or {}).get(header) or max(10, min(48, 2 * len(header) + 4))
        ws.column_dimensions[get_column_letter(j)].width = width
    styled: dict[str, Any] = {}  # the style of each cell form, set once and then copied (same style ids)
    for i, row in enumerate(rows, start=top + 1):
        for j, (key, _, kind) in enumerate(columns, start=1):
            c = ws.cell(row=i, column=j, value=_cell(row.get(key), kind))
            as_text(c)
            form = kind if kind in (RATE, INT) and isinstance(c.value, (int, float)) else "wrap"
            if form in styled:
                c._style = copy(styled[form])
                continue
            c.border = st["border"]
            if form == RATE:
                c.number_format = "0.00%"
            elif form == INT:
                c.number_format = "#,##0"
            else:
                c.alignment = st["wrap"]
            styled[form] = copy(c._style)
    ws.freeze_panes = ws.cell(row=top + 1, column=1)
    return top + 1 + len(rows)


def _list_sheet(wb: Any, title: str, rows: list[dict[str, Any]], columns: tuple[str, ...], numeric: tuple[str, ...],
                empty: str) -> None:
    ws = wb.create_sheet(title)
    cols = [(c, c, INT if c in numeric else TEXT) for c in columns]
    _table(ws, cols, rows or [{columns[0]: empty}], widths=dict.fromkeys(("记录", "问题说明", "责任方"), 30))


def write(report: dict[str, Any], path: str | Path) -> Path:
    from openpyxl import Workbook

    st = _styles()
    wb = Workbook()
    ws = wb.active
    ws.title = "汇总"
    h, cmp_rows = report["headline"], {r["metric"]: r for r in report["comparison"]["rows"]}
    ws["A1"] = f"珠海市应急管理局 {report['title']}（{report['period_zh']}）"
    ws["A1"].font = st["title"]
    basis = f"，{report['cut_off_basis_zh']}" if report.get("cut_off_basis_zh") else ""
    ws["A2"] = (f"统计期：{report['period_start']} 至 {report['period_end']}（按决定日期）；"
                f"数据截止：{report['cut_off_zh']}（北京时间{basis}）。截止时点之后的更正、补录和重新上报不改变本报告数据。")
    cmp = report["comparison"]
    ws["A3"] = f"对比：上期 {cmp['previous_period']}，去年同期 {cmp['last_year_period']}。口径与来源见“说明”工作表。"
    rows = []
    for key, name, kind in HEADLINE:
        c = cmp_rows.get(key, {})
        t = report["targets"].get(key)
        rows.append({"name": name, "value": h.get(key), "target": t and t["min"],
                     "met": None if not t or t["met"] is None else ("达标" if t["met"] else "未达标"),
                     "previous": c.get("previous"), "last_year": c.get("last_year"),
                     "change_previous": c.get("change_previous"), "change_last_year": c.get("change_last_year"),
                     "_kind": kind})
    for key, zh in NOT_PUBLISHED_ZH.items():
        rows.append({"name": f"未报送：{zh}", "value": h["not_published"][key], "_kind": INT})
    rows.append({"name": "未报送：无法读取的区县报送文件（个，所含决定数不详）", "value": h.get("unreadable_files", 0),
                 "_kind": INT})
    for key, zh in DUP_ZH.items():
        rows.append({"name": f"拦截重复：{zh}", "value": h["duplicates"][key], "_kind": INT})
    cols = [("name", "指标", TEXT), ("value", "本期", RATE), ("target", "目标", RATE), ("met", "是否达标", TEXT),
            ("previous", "上期", RATE), ("last_year", "去年同期", RATE), ("change_previous", "较上期", RATE),
            ("change_last_year", "较去年同期", RATE)]
    _table(ws, cols, rows, top=5, widths={"指标": 28})
    for i, row in enumerate(rows, start=6):  # counts are counts, not percentages
        if row["_kind"] == INT:
            for j in (2, 5, 6, 7, 8):
                cell = ws.cell(row=i, column=j)
                if isinstance(cell.value, (int, float)):
                    cell.number_format = "#,##0"

    ws = wb.create_sheet("科室报表")
    _table(ws, [(k, k, INT if k.endswith("数量") else TEXT) for k in
                ("承办科室", "产生数量", "报送数量", "平台入库数量", "未报送数量", "未报送原因")],
           report["department_table"], widths={"承办科室": 30, "未报送原因": 60})
    for title, key in (("按类别", "by_kind"), ("按承办科室", "by_department"), ("按区县", "by_district")):
        _table(wb.create_sheet(title), list(BREAKDOWN), report[key], widths={"分组": 30})
    base = ("类别", "记录", "决定书文号", "承办科室", "区县", "决定日期")
    _list_sheet(wb, "逾期明细", report["late"], (*base, "公开期限", "公开日期", "逾期工作日"), ("逾期工作日",),
                "本期无逾期")
    _list_sheet(wb, "未报送-问题数据", report["quarantine"], (*base, "规则", "字段", "问题说明", "责任方", "隔离天数"),
                ("隔离天数",), "无")
    _list_sheet(wb, "未报送-待审核", report["review"], (*base, "审核原因", "待审核层级", "等待天数"), ("等待天数",),
                "无")
    _list_sheet(wb, "未报送-免于公示", report["exempt"], (*base, "免于公示规则", "核实状态"), (), "无")
    _list_sheet(wb, "未报送-无法读取的文件", report.get("unreadable", []),
                ("类别", "区县", "承办科室", "文件", "接收日期", "未报送原因", "所含决定数"), (), "无")
    _list_sheet(wb, "平台退回", report["rejections"], ("平台返回代码", "平台说明", "记录数"), ("记录数",), "无")
    dup_columns = tuple(DUP_ZH.values())
    _list_sheet(wb, "重复拦截", report["duplicates"], ("类别", *dup_columns, "合计"), (*dup_columns, "合计"), "无")
    trend_columns = [("period", "统计期", TEXT), ("decisions", "产生数量", INT), ("timely_rate", "及时率", RATE),
                     ("compliance_rate", "合规率", RATE)]
    _table(wb.create_sheet("趋势"), trend_columns, report["trend"])
    _table(wb.create_sheet("隔离区账龄"), [("bucket", "在隔离区天数", TEXT), ("count", "记录数", INT)],
           report["backlog_by_age"])
    for section in report["sections"]:
        ws = wb.create_sheet(section["title"][:31])
        first = section["columns"][0]
        note = {**dict.fromkeys(section["columns"], ""), first: "说明：" + section["note"]}
        rows = [*section["rows"], *([note] if section["note"] else [])]
        _table(ws, [(c, c, TEXT if i == 0 else RATE if c.endswith("率") else INT)
                    for i, c in enumerate(section["columns"])], rows, widths={first: 60})
    _notes(wb.create_sheet("说明"), report)
    moment = dt.datetime.fromisoformat(report["cut_off"]).astimezone(dt.UTC).replace(tzinfo=None)
    wb.properties.created = wb.properties.modified = moment  # reproducible: no "now" in the file
    wb.properties.creator = wb.properties.lastModifiedBy = "creditflow"
    wb.properties.title = f"{report['title']}（{report['period_zh']}）"
    out = Path(path)
    wb.save(out)
    return out


def _zh(text: Any) -> str:
    """A Chinese text from YAML folded over lines: joined without the spaces the folding left."""
    return "".join(str(text).split())


def notes_rows(report: dict[str, Any]) -> list[dict[str, Any]]:
    """Definitions, targets, exemptions and the reproducibility statement (also printed in the PDF): what
    市信用办 reads — Chinese, official documents by name (``source_zh``), secondary sources said so."""
    spec = rule_data("definitions")
    defs = spec["metrics"]
    marks = {"S": "有公开来源", "M": "未核实（M）", "local": "本地口径"}
    rows = [{"项目": m["name_zh"], "定义": _zh(m["definition_zh"]), "核实状态": marks.get(str(m["mark"]), m["mark"]),
             "来源": _zh(m["source_zh"])} for m in defs.values()]
    for metric, t in report["targets"].items():
        rows.append({"项目": f"目标：{defs[metric]['name_zh']} ≥ {t['min']:.0%}", "定义": "统计期最后一日有效的目标",
                     "核实状态": marks.get(str(t["mark"]), t["mark"]), "来源": t.get("source_zh") or t["source"]})
    own = spec.get("exemption_sources_zh", {})
    for e in rule_data("exemptions")["exemptions"]:
        source = e.get("source_zh") or own.get(e["id"]) or "本局规则（暂无中文出处说明，未核实）"
        rows.append({"项目": f"免于公示：{e['title_zh']}", "定义": f"自{e['effective_from']}起作出的决定适用",
                     "核实状态": marks.get(str(e["mark"]), e["mark"]), "来源": _zh(source)})
    basis = report.get("cut_off_basis_zh")
    rows.append({"项目": "数据截止与可复核", "定义": (
        f"本报告数据截至{report['cut_off_zh']}" + (f"（{basis}）" if basis else "") +
        "：只计入此前完成的日常上报运行、共享平台回执和审核记录（按其时间戳）。任何时候以相同统计期和截止时点"
        "重新生成，数据完全相同；此后的更正、补录不改变本报告。"),
        "核实状态": "本地口径", "来源": "本局双公示上报系统的日常运行记录、共享平台回执记录和审核记录"})
    rows.append({"项目": "个人信息", "定义": "报告不含行政相对人姓名；记录标识和文书号中的身份证号码已遮蔽。",
                 "核实状态": "本地口径", "来源": "本局双公示上报系统（身份证号码统一遮蔽）"})
    return rows


def _notes(ws: Any, report: dict[str, Any]) -> None:
    _table(ws, [("项目", "项目", TEXT), ("定义", "定义", TEXT), ("核实状态", "核实状态", TEXT), ("来源", "来源", TEXT)],
           notes_rows(report), widths={"项目": 28, "定义": 80, "来源": 60})
