"""Where reports live, what the plugin lists for download, and the e-mail that carries them.

Layout under a reports root (the DAGs use ``<var>/reports``)::

    <root>/<monthly|weekly>/<period>/creditflow-<kind>-<period>.xlsx
                                     creditflow-<kind>-<period>.pdf
                                     summary.json      the figures (canonical JSON, no personal data)

A new run for the same period replaces the folder whole (written aside, then renamed into place).
"""

from __future__ import annotations

import html
import json
import shutil
import tempfile
from pathlib import Path
from typing import Any

from creditflow.common import mask_text
from creditflow.feedback.periods import REPORT_KINDS, parse_period

KIND_ZH = {"monthly": "月报", "weekly": "周报"}
SUMMARY = "summary.json"


def folder(root: str | Path, kind: str, period: str) -> Path:
    p = parse_period(kind, period)  # validates: no path tricks through the period
    return Path(root) / p.kind / p.label


def file_names(kind: str, period: str) -> dict[str, str]:
    return {"xlsx": f"creditflow-{kind}-{period}.xlsx", "pdf": f"creditflow-{kind}-{period}.pdf", "summary": SUMMARY}


def save(report: dict[str, Any], root: str | Path) -> dict[str, Path]:
    """Write the workbook, the PDF and the figures for ``report`` under ``root``; returns the paths."""
    kind, period = report["report"], report["period"]
    target = folder(root, kind, period)
    target.parent.mkdir(parents=True, exist_ok=True)
    names = file_names(kind, period)
    staging = Path(tempfile.mkdtemp(prefix=f".{period}-", dir=target.parent))
    try:
        write_files(report, staging)
        if target.exists():
            old = target.with_name(f".{period}-old")
            shutil.rmtree(old, ignore_errors=True)
            target.rename(old)
            staging.rename(target)
            shutil.rmtree(old, ignore_errors=True)
        else:
            staging.rename(target)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return {k: target / v for k, v in names.items()}


def save_to(report: dict[str, Any], store: Any) -> dict[str, str]:
    """Save ``report`` into a :class:`~creditflow.core.storage.Storage` (the ``reports`` area): in place on a
    local folder (:func:`save`), else rendered in a temporary folder and published file by file, the
    figures (``summary.json``) last so that a reader never finds the figures without their documents.
    Returns each file's location (a path, or a URL for object storage)."""
    local = store.local_path()
    if local is not None:
        return {k: str(v) for k, v in save(report, local).items()}
    kind, period = report["report"], report["period"]
    prefix = folder("", kind, period).as_posix()
    names = file_names(kind, period)
    with tempfile.TemporaryDirectory(prefix="creditflow-report-") as tmp:
        written = write_files(report, tmp)
        out = {k: store.put_file(written[k], f"{prefix}/{names[k]}") for k in ("xlsx", "pdf")}
        out["summary"] = store.put_file(written["summary"], f"{prefix}/{names['summary']}")
    return out


def write_files(report: dict[str, Any], directory: str | Path) -> dict[str, Path]:
    """Write the workbook, the PDF and ``summary.json`` of ``report`` into ``directory`` (created)."""
    from creditflow.feedback import build, pdf, xlsx

    out = Path(directory)
    out.mkdir(parents=True, exist_ok=True)
    names = file_names(report["report"], report["period"])
    xlsx.write(report, out / names["xlsx"])
    pdf.write(report, out / names["pdf"])
    (out / names["summary"]).write_text(build.dumps(report) + "\n", encoding="utf-8")
    return {k: out / v for k, v in names.items()}


def list_reports(root: str | Path) -> list[dict[str, Any]]:
    """Every stored report, monthly first, newest period first — what the plugin's download page lists.

    Each: ``kind``, ``kind_zh``, ``period``, ``period_zh``, ``title``, ``cut_off``, ``cut_off_zh``,
    ``headline`` (the CLI's figures) and ``files`` (``name``, ``format``, ``bytes``, ``path`` relative to
    ``root`` — serve only paths this function returned)."""
    from creditflow.feedback.build import cli_summary

    base = Path(root)
    out: list[dict[str, Any]] = []
    for kind in REPORT_KINDS:
        kind_dir = base / kind
        if not kind_dir.is_dir():
            continue
        for period_dir in sorted((p for p in kind_dir.iterdir() if p.is_dir() and not p.name.startswith(".")),
                                 key=lambda p: p.name, reverse=True):
            summary = period_dir / SUMMARY
            try:
                report = json.loads(summary.read_text(encoding="utf-8"))
            except (OSError, ValueError):
                continue
            files = []
            for fmt, name in file_names(kind, period_dir.name).items():
                path = period_dir / name
                if fmt != "summary" and path.is_file():
                    files.append({"name": name, "format": fmt, "bytes": path.stat().st_size,
                                  "path": path.relative_to(base).as_posix()})
            out.append({"kind": kind, "kind_zh": KIND_ZH[kind], "period": report["period"],
                        "period_zh": report["period_zh"], "title": report["title"], "cut_off": report["cut_off"],
                        "cut_off_zh": report["cut_off_zh"], "headline": cli_summary(report), "files": files})
    return out


def email_content(report: dict[str, Any]) -> tuple[str, str]:
    """(subject, HTML body) of the report's e-mail: headline figures and the department table, no names."""
    h = report["headline"]

    def pct(v: Any) -> str:
        return "—" if v is None else f"{v:.2%}"

    subject = f"【{report['title']}】{report['period_zh']}（数据截止{report['cut_off_zh']}）"
    figures = [("产生数量", h["decisions"]), ("报送数量", h["submitted"]), ("平台入库数量", h["accepted"]),
               ("及时率", pct(h["timely_rate"])), ("合规率（有效入库率）", pct(h["compliance_rate"])),
               ("首次校验通过率", pct(h["first_pass_rate"])), ("完整率", pct(h.get("completeness_rate"))),
               ("未报送", h["not_published"]["total"])]
    rows = "".join(f"<tr><th align='left'>{html.escape(k)}</th><td>{html.escape(str(v))}</td></tr>" for k, v in figures)
    columns = ("承办科室", "产生数量", "报送数量", "平台入库数量", "未报送数量", "未报送原因")
    dept = "".join("<tr>" + "".join(f"<td>{html.escape(mask_text(r[c]))}</td>" for c in columns) + "</tr>"
                   for r in report["department_table"])
    body = (f"<p>{html.escape(report['title'])}（{html.escape(report['period_zh'])}），"
            f"统计期 {report['period_start']} 至 {report['period_end']}，"
            f"数据截至{html.escape(report['cut_off_zh'])}。附件为XLSX和PDF版本，可直接转发。</p>"
            f"<table border='1' cellpadding='4'>{rows}</table>"
            "<p>各承办科室报送情况：</p><table border='1' cellpadding='4'><tr><th>承办科室</th><th>产生数量</th>"
            f"<th>报送数量</th><th>平台入库数量</th><th>未报送数量</th><th>未报送原因</th></tr>{dept}</table>"
            "<p>口径与来源见附件“说明”。此邮件由 creditflow 自动发送，不含个人信息。</p>")
    return subject, body
