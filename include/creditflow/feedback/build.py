"""A report's figures: one JSON-able dict, the same bytes for the same period and cut-off.

``compute`` reads the facts once for a window of 13 periods (this one, the 11 before it for the trends,
and the same period last year), then computes each period as of its own cut-off: the trend and the
comparison show the figures each of those reports stated.
"""

from __future__ import annotations

import datetime as dt
import json
from collections import Counter
from typing import Any

import pandas as pd
import sqlalchemy as sa

from creditflow.common import KIND_LABELS, KINDS
from creditflow.feedback import details, facts, figures, sections
from creditflow.feedback.periods import (
    CUT_OFF_BASIS_ZH,
    Period,
    parse_period,
    resolve_cut_off,
    rule_data,
    target,
)

COMPARED = ("decisions", "submitted", "accepted", "timely_rate", "compliance_rate", "first_pass_rate",
            "completeness_rate", "correction_rate")
BREAKDOWN_COLUMNS = ("decisions", "submitted", "accepted", "timely_rate", "compliance_rate", "first_pass_rate",
                     "completeness_rate", "not_published", "duplicates")


def cut_off_zh(moment: dt.datetime, period: Period | None = None) -> str:
    if moment.hour == 0 and moment.minute == 0:
        day = moment.date() - dt.timedelta(days=1)
        text = f"{day.year}年{day.month}月{day.day}日24时"
    else:
        text = f"{moment.year}年{moment.month}月{moment.day}日{moment.hour:02d}:{moment.minute:02d}"
    if period is not None and moment < dt.datetime.combine(period.end, dt.time(), moment.tzinfo):
        text += "（统计期尚未结束，为期中数据）"
    return text


def compute(engine: sa.Engine, kind: str, period: str | Period, cut_off: Any = None,
            kinds: tuple[str, ...] = KINDS, cut_off_basis: str | None = None) -> dict[str, Any]:
    """The report of ``kind`` (monthly | weekly) for ``period`` as of ``cut_off`` (None: the rule's, or now
    when that is still ahead — :func:`~creditflow.feedback.periods.resolve_cut_off`). ``cut_off_basis``: how
    a caller that resolved the cut-off itself got it (``rule`` | ``now`` | ``given``)."""
    p = period if isinstance(period, Period) else parse_period(kind, period)
    cut, basis = resolve_cut_off(cut_off, p)
    basis = cut_off_basis or basis
    if cut == p.default_cut_off():
        basis = "rule"  # the same cut-off, however it was given: the same report
    spec = rule_data("definitions")["periods"][p.kind]
    trend = [p.shifted(-i) for i in range(int(spec["trend_periods"]) - 1, -1, -1)]
    last_year = p.same_last_year()
    window = (min(trend[0].start, last_year.start), p.end)
    lookup = details.payload_lookup(engine)
    known = facts.load(engine, window, cut, kinds)  # one read of the window: every period is computed from it

    def cut_of(q: Period) -> dt.datetime:
        return min(q.default_cut_off(), cut) if q != p else cut

    def full(q: Period) -> tuple[pd.DataFrame, dict[str, Any]]:
        c = cut_of(q)
        rec = figures.records_of(known, q, c, lookup)
        if len(rec):
            rec = details.attach(rec, facts.attributes(engine, rec[["run_key", "record_id"]]))
        else:
            for column in ("payload", "district", "department", "filled", "required"):
                rec[column] = []
        head = figures.headline(rec, known, q, c, details.completeness(rec))
        head.update(figures.corrections(known, q, c))
        head["unreadable_files"] = len(figures.unreadable_files(known, q, c))
        return rec, head

    def trend_point(q: Period) -> dict[str, Any]:
        """An earlier period's trend figures as of its own cut-off (those of the headline)."""
        return figures.trend_figures(known, q, cut_of(q), lookup)

    rec, head = full(p)
    prev = _canonical(full(p.previous())[1])
    year = _canonical(full(last_year)[1])
    points = []
    for q in trend:
        h = head if q == p else prev if q == p.previous() else _canonical(trend_point(q))
        points.append({"period": q.label, "label": q.short_zh, "timely_rate": h["timely_rate"],
                       "compliance_rate": h["compliance_rate"], "decisions": h["decisions"]})
    quarantine = details.quarantine_list(rec, known, cut)
    unreadable = details.unreadable_list(figures.unreadable_files(known, p, cut))
    report: dict[str, Any] = {
        "report": p.kind, "title": spec["title_zh"], "period": p.label, "period_zh": p.title_zh,
        "period_start": p.start.isoformat(), "period_end": p.last_day.isoformat(),
        "cut_off": cut.isoformat(), "cut_off_zh": cut_off_zh(cut, p), "kinds": list(kinds),
        "cut_off_basis": basis, "cut_off_basis_zh": CUT_OFF_BASIS_ZH[basis],
        "headline": head, "targets": _targets(head, p),
        "comparison": _comparison(head, prev, year, p.previous(), last_year),
        "trend": points,
        "by_kind": _breakdown(rec, known, p, cut, "kind", {k: KIND_LABELS[k] for k in kinds}),
        "by_department": _breakdown(rec, known, p, cut, "department"),
        "by_district": _breakdown(rec, known, p, cut, "district"),
        "department_table": _department_table(rec, quarantine, unreadable),
        "unreadable": unreadable,
        "late": details.late_list(rec),
        "quarantine": [{k: v for k, v in row.items() if not k.startswith("_")} for row in quarantine],
        "review": details.review_list(rec, known, cut),
        "exempt": details.exempt_list(rec),
        "rejections": details.rejection_counts(rec, known),
        "duplicates": _duplicates(rec, kinds),
        "backlog_by_age": _backlog(known, cut),
        "sections": sections.render(engine, p, cut),
    }
    return json.loads(dumps(report))  # plain JSON types only, as stored


def _canonical(head: dict[str, Any]) -> dict[str, Any]:
    """``head`` in plain JSON types (as the report stores it)."""
    return dict(json.loads(dumps(head)))


def dumps(report: dict[str, Any]) -> str:
    """The canonical bytes of a report's figures (sorted keys, no whitespace variance)."""
    def default(v: Any) -> Any:
        if isinstance(v, (dt.date, dt.datetime)):
            return v.isoformat()
        if hasattr(v, "item"):  # numpy scalars
            return v.item()
        return str(v)
    return json.dumps(report, ensure_ascii=False, sort_keys=True, indent=1, default=default)


def _targets(head: dict[str, Any], p: Period) -> dict[str, Any]:
    out = {}
    for metric in ("timely_rate", "compliance_rate", "completeness_rate"):
        t = target(metric, p.last_day)
        if t is None:
            continue
        value = head.get(metric)
        out[metric] = {"min": t["min"], "met": None if value is None else value >= float(t["min"]),
                       "mark": t["mark"], "source": " ".join(str(t["source"]).split()),
                       "source_zh": "".join(str(t.get("source_zh") or t["source"]).split())}
    return out


def _comparison(head: dict[str, Any], prev: dict[str, Any], year: dict[str, Any], pp: Period,
                py: Period) -> dict[str, Any]:
    names = rule_data("definitions")["metrics"]

    def change(a: Any, b: Any) -> Any:
        return None if a is None or b is None else round(a - b, 4)

    rows = []
    for m in COMPARED:
        rows.append({"metric": m, "name_zh": names.get(m, {}).get("name_zh", m), "current": head.get(m),
                     "previous": prev.get(m), "last_year": year.get(m),
                     "change_previous": change(head.get(m), prev.get(m)),
                     "change_last_year": change(head.get(m), year.get(m))})
    return {"previous_period": pp.label, "last_year_period": py.label, "rows": rows}


def _breakdown(rec: pd.DataFrame, known: facts.Facts, p: Period, cut: dt.datetime, column: str,
               labels: dict[str, str] | None = None) -> list[dict[str, Any]]:
    if not len(rec):
        return []
    out = []
    values = list(labels) if labels else sorted(set(rec[column].dropna()))
    for value in values:
        part = rec[rec[column] == value]
        h = figures.headline(part, known, p, cut, details.completeness(part))
        out.append({"value": value, "label": (labels or {}).get(value, value),
                    **{c: h[c] for c in BREAKDOWN_COLUMNS if c not in ("not_published", "duplicates")},
                    "not_published": h["not_published"]["total"], "duplicates": sum(h["duplicates"].values())})
    return out


def _department_table(rec: pd.DataFrame, quarantine: list[dict[str, Any]],
                      unreadable: list[dict[str, Any]] | None = None) -> list[dict[str, Any]]:
    """产生数量 / 报送数量 / 平台入库数量 / 未报送数量 / 未报送原因, one row per 承办科室, then 合计. An
    unreadable district file is named in its district's 未报送原因 (its decisions cannot be counted)."""
    files = unreadable or []
    if not len(rec) and not files:
        return []
    dec = rec[~rec["copy"]] if len(rec) else rec
    out = []
    departments = set(dec["department"]) if len(dec) else set()
    for dept in [*sorted(departments | {f["承办科室"] for f in files}), None]:
        part = dec if dept is None or not len(dec) else dec[dec["department"] == dept]
        rows = [q for q in quarantine if dept is None or q["承办科室"] == dept]
        mine = [f for f in files if dept is None or f["承办科室"] == dept]
        out.append({"承办科室": "合计" if dept is None else dept, "产生数量": len(part),
                    "报送数量": int(part["submitted"].sum()) if len(part) else 0,
                    "平台入库数量": int(part["published"].sum()) if len(part) else 0,
                    "未报送数量": int((~part["published"]).sum()) if len(part) else 0,
                    "未报送原因": details.not_published_reasons(rows, part, mine)})
    return out


def _duplicates(rec: pd.DataFrame, kinds: tuple[str, ...]) -> list[dict[str, Any]]:
    copies = rec[rec["copy"]] if len(rec) else rec
    out = []
    for k in kinds:
        counts = Counter(copies[copies["kind"] == k]["dup_class"]) if len(copies) else Counter()
        out.append({"类别": KIND_LABELS[k], **{figures.DUP_ZH[c]: counts.get(c, 0) for c in figures.DUP_CLASSES},
                    "合计": sum(counts.values())})
    return out


def _backlog(known: facts.Facts, cut: dt.datetime) -> list[dict[str, Any]]:
    """Records in quarantine at the cut-off (decided within the report's window), by days in quarantine."""
    latest, _ = figures.as_of(known, cut)
    stuck = set(latest[(latest["outcome"] == "quarantined") & latest["duplicate_of"].isna()]["record_id"])
    since = details._quarantined_since(known, cut, stuck)
    as_of_day = (cut - dt.timedelta(microseconds=1)).date()
    bounds = [int(b) for b in rule_data("definitions")["quarantine_age_buckets"]]
    labels = [f"{lo}–{hi}天" for lo, hi in zip([0, *[b + 1 for b in bounds[:-1]]], bounds, strict=True)]
    labels.append(f"{bounds[-1]}天以上")
    counts: Counter[int] = Counter()
    for rid in stuck:
        age = (as_of_day - since[rid]).days if rid in since else 0
        counts[next((i for i, b in enumerate(bounds) if age <= b), len(bounds))] += 1
    return [{"bucket": label, "count": counts.get(i, 0)} for i, label in enumerate(labels)]


def cli_summary(report: dict[str, Any]) -> dict[str, Any]:
    """The headline figures the CLI prints (and the DAG returns): no record, no personal data."""
    h = report["headline"]
    return {"period": report["period"], "cut_off": report["cut_off"],
            "cut_off_basis": report.get("cut_off_basis_zh", ""), "decisions": h["decisions"],
            "submitted": h["submitted"], "accepted": h["accepted"], "timely_rate": h["timely_rate"],
            "compliance_rate": h["compliance_rate"], "first_pass_rate": h["first_pass_rate"],
            "completeness_rate": h.get("completeness_rate"), "not_published": h["not_published"]}
