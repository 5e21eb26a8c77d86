"""Who and where (承办科室, 区县), completeness, and the lists behind the figures: late decisions, the
quarantine with who must act, the review queue with its levels, exemptions, platform rejections.

Everything a list shows passes through :func:`creditflow.common.mask_text` (record ids and 文书号 of
natural persons' records carry ID numbers); no party name or ID number is listed.
"""

from __future__ import annotations

import datetime as dt
import re
from collections import Counter
from functools import cache
from typing import Any

import pandas as pd

from creditflow.common import KIND_LABELS, mask_text
from creditflow.core import standard
from creditflow.feedback.facts import Facts
from creditflow.feedback.periods import rule_data, stamp
from creditflow.reporting.pipeline.common import review_policy

PLACEHOLDER = "00000000000000000X"
ORG_CATEGORIES = ("法人及非法人组织", "个体工商户")
_OTHER_CODES = ("_XDR_GSZC", "_XDR_ZZJG", "_XDR_SWDJ", "_XDR_SYDW", "_XDR_SHZZ")
_FILE_DISTRICT = re.compile(r"^(\d{6})_([^_#/]+)_")


# --- who and where -------------------------------------------------------------------------------------


def district_of(source: str, lineage: str, raw_district: Any, payload: dict[str, Any], kind: str) -> str:
    """A district file's own district, else the district the extract carried, else the party's
    registration region (USCC positions 3–8), else 未知区县."""
    names = rule_data("organisation")["districts"]
    if source == "district_file":
        m = _FILE_DISTRICT.match(str(lineage).rsplit("/", 1)[-1])
        if m:
            return m.group(2)
    if raw_district:
        return str(raw_district)
    code = str(payload.get(f"{standard.PREFIX[kind]}_XDR_SHXYM") or "").upper()
    if len(code) == 18 and code != PLACEHOLDER:
        region = code[2:8]
        if region in names:
            return str(names[region])
        return str(names["unknown"] if region.startswith("4404") else names["outside"])
    return str(names["unknown"])


def department_of(source: str, raw_department: Any, district: str) -> str:
    spec = rule_data("organisation")["departments"]
    if source == "case_db" and raw_department:
        return str(raw_department)
    template = spec["by_source"].get(source)
    return str(template).format(district=district) if template else str(spec["unknown"])


def who_must_act(source: str, rules: list[str], department: str, district: str) -> str:
    spec = rule_data("organisation")["who_must_act"]
    key = "platform_rejected" if "PLATFORM_REJECTED" in rules else "review_rejected" \
        if "REVIEW_REJECTED" in rules else source
    return str(spec.get(key, department)).format(department=department, district=district)


def responsible(source: str, raw: dict[str, Any], lineage: str, payload: dict[str, Any], kind: str,
                rules: list[str]) -> tuple[str, str]:
    """(承办科室, who must act) for one record: the one rule the reports, 问题数据 and the dashboard use."""
    district = district_of(source, lineage, raw.get("district_name"), payload, kind)
    department = department_of(source, raw.get("department"), district)
    return department, who_must_act(source, rules, department, district)


def attach(rec: pd.DataFrame, attrs: pd.DataFrame) -> pd.DataFrame:
    """Add 承办科室, 区县 and the payload to the period's records (``attrs`` from :func:`facts.attributes`)."""
    ids = attrs["record_id"].tolist()  # one row per record (facts.attributes): plain dicts, not index probes
    by_payload = dict(zip(ids, attrs["payload"].tolist(), strict=True))
    by_lineage = dict(zip(ids, attrs["lineage"].tolist(), strict=True))
    by_dist = dict(zip(ids, attrs["raw_district"].tolist(), strict=True))
    by_dept = dict(zip(ids, attrs["raw_department"].tolist(), strict=True))
    rec = rec.copy()
    wanted = rec["record_id"].tolist()
    rec["payload"] = [by_payload.get(r, {}) for r in wanted]
    lineage = [by_lineage.get(r, "") for r in wanted]
    raw_dist = [by_dist.get(r) for r in wanted]
    raw_dept = [by_dept.get(r) for r in wanted]
    rec["district"] = [district_of(s, li, d, p, k) for s, li, d, p, k in
                       zip(rec["source"].tolist(), lineage, raw_dist, rec["payload"].tolist(), rec["kind"].tolist(),
                           strict=True)]
    rec["department"] = [department_of(s, d, di) for s, d, di in
                         zip(rec["source"].tolist(), raw_dept, rec["district"].tolist(), strict=True)]
    items = [completeness_items(k, p) for k, p in zip(rec["kind"].tolist(), rec["payload"].tolist(), strict=True)]
    rec["filled"] = [f for f, _ in items]
    rec["required"] = [r for _, r in items]
    return rec


# --- completeness ---------------------------------------------------------------------------------------


def _filled(value: Any) -> bool:
    return value is not None and str(value).strip() != ""


@cache
def _required_spec(kind: str) -> tuple[tuple[str, str], ...]:
    """(field, condition) of every required item of ``kind`` — the field dictionary's flags, read once."""
    out = []
    for f in standard.fields(kind):
        code, rule = f.code, f.required
        if rule == "no" or any(code.endswith(s) for s in _OTHER_CODES):
            continue
        if rule == "always":
            out.append((code, "always"))
        elif code.endswith(("_XDR_SHXYM", "_FRDB")):
            out.append((code, "organisation"))
        elif code.endswith(("_XDR_ZJLX", "_XDR_ZJHM")):
            out.append((code, "person"))
        elif code in ("CF_NR_FK", "CF_NR_WFFF", "CF_NR_ZKDX"):
            out.append((code, code))
    return tuple(out)


_BY_PENALTY = {"CF_NR_FK": ("罚款",), "CF_NR_WFFF": ("没收违法所得", "没收非法财物"), "CF_NR_ZKDX": ("暂扣", "吊销")}


@cache
def _required_groups(kind: str) -> tuple[tuple[str, ...], tuple[str, ...], tuple[str, ...],
                                          tuple[tuple[str, tuple[str, ...]], ...]]:
    """:func:`_required_spec` by condition: (always, organisation, person, ((field, penalty words), …))."""
    spec = _required_spec(kind)
    return (tuple(c for c, cond in spec if cond == "always"), tuple(c for c, cond in spec if cond == "organisation"),
            tuple(c for c, cond in spec if cond == "person"),
            tuple((c, _BY_PENALTY[cond]) for c, cond in spec if cond in _BY_PENALTY))


def _count_filled(payload: dict[str, Any], codes: tuple[str, ...]) -> int:
    n = 0
    for code in codes:
        value = payload.get(code)
        if value is not None and (value.strip() if type(value) is str else str(value).strip()):  # _filled
            n += 1
    return n


def completeness_items(kind: str, payload: dict[str, Any]) -> tuple[int, int]:
    """(filled, required) data items of one record, by the field dictionary's required flags."""
    p = standard.PREFIX[kind]
    always, organisation, person, by_penalty = _required_groups(kind)
    category = str(payload.get(f"{p}_XDR_LB") or "")
    filled, required = _count_filled(payload, always), len(always)
    if category in ORG_CATEGORIES:
        filled += _count_filled(payload, organisation)
        required += len(organisation)
    elif category == "自然人":
        filled += _count_filled(payload, person)
        required += len(person)
    if by_penalty:
        penalties = str(payload.get("CF_CFLB") or "")
        for code, words in by_penalty:
            if any(word in penalties for word in words):
                required += 1
                filled += _filled(payload.get(code))
    if str(payload.get(f"{p}_XDR_SHXYM") or "").upper() == PLACEHOLDER:  # one of 代码_2…_6 is required
        required += 1
        filled += any(_filled(payload.get(p + s)) for s in _OTHER_CODES)
    return filled, required


def completeness(rec: pd.DataFrame) -> tuple[int, int]:
    """(filled, required) over the records that are not copies (``attach`` computed them per record)."""
    if not len(rec):
        return 0, 0
    dec = rec[~rec["copy"]]
    return int(dec["filled"].sum()), int(dec["required"].sum())


# --- lists ----------------------------------------------------------------------------------------------


def _doc_no(natural_key: Any) -> str:
    return mask_text(str(natural_key or "").split("|", 1)[0]) or "—"


def _base(r: dict[str, Any]) -> dict[str, Any]:
    return {"类别": KIND_LABELS.get(r["kind"], r["kind"]), "记录": mask_text(r["record_id"]),
            "决定书文号": _doc_no(r["natural_key"]), "承办科室": r.get("department", ""),
            "区县": r.get("district", ""), "决定日期": r["decision_day"].isoformat() if r["decision_day"] else "—"}


def late_list(rec: pd.DataFrame) -> list[dict[str, Any]]:
    out = []
    for r in rec[rec["timely"] == False].to_dict("records"):  # noqa: E712
        out.append({**_base(r), "公开期限": r["due_day"].isoformat() if r["due_day"] else "—",
                    "公开日期": r["pub_day"].isoformat() if r["pub_day"] else "截止时点未公开",
                    "逾期工作日": int(r["late_days"]) if not pd.isna(r["late_days"]) else "—"})
    return out


def _rules_of(r: dict[str, Any], facts: Facts,
              found: list[dict[str, Any]] | None = None) -> list[dict[str, Any]]:
    """The record's error findings in its run (sorted by rule and field; ``found``: them, pre-grouped)."""
    if found is None:
        f = facts.findings
        found = f[(f["run_key"] == r["run_key"]) & (f["record_id"] == r["record_id"])].to_dict("records")
    if found:
        return sorted(found, key=lambda x: (x["rule_id"], x["field"]))  # unique per record and run (key)
    detail = str(r.get("detail") or "")
    rule = "PLATFORM_REJECTED" if detail.startswith("PLATFORM_REJECTED") else detail.split(",")[0] or "OTHER"
    return [{"rule_id": rule, "field": "*", "message_zh": detail, "detail": detail}]


def quarantine_list(rec: pd.DataFrame, facts: Facts, cut_off: dt.datetime) -> list[dict[str, Any]]:
    labels = rule_data("definitions")["rule_labels"]
    as_of_day = (cut_off - dt.timedelta(microseconds=1)).date()
    stuck = rec[rec["status"] == "quarantined"]
    since = _quarantined_since(facts, cut_off, set(stuck["record_id"]))
    f = facts.findings
    groups: dict[tuple[str, str], list[dict[str, Any]]] = {}  # the listed records' findings, grouped once
    for x in f[f["record_id"].isin(set(stuck["record_id"].tolist()))].to_dict("records"):
        groups.setdefault((x["run_key"], x["record_id"]), []).append(x)
    out = []
    for r in stuck.to_dict("records"):
        rules = _rules_of(r, facts, groups.get((r["run_key"], r["record_id"]), []))
        fmap = standard.field_map(r["kind"])
        fields = sorted({fmap[x["field"]].name_zh if x["field"] in fmap else str(x["field"]) for x in rules})
        start = since.get(r["record_id"])
        out.append({**_base(r), "规则": "、".join(sorted({labels.get(x["rule_id"], x["rule_id"]) for x in rules})),
                    "字段": "、".join(fields),
                    "问题说明": mask_text("；".join(sorted({str(x["message_zh"]) for x in rules}))),
                    "责任方": who_must_act(r["source"], [x["rule_id"] for x in rules], r.get("department", ""),
                                        r.get("district", "")),
                    "隔离天数": (as_of_day - start).days if start else None,
                    "_rules": [x["rule_id"] for x in rules]})
    return out


def _quarantined_since(facts: Facts, cut_off: dt.datetime, records: set[str] | None = None) -> dict[str, dt.date]:
    """Per record (of ``records``, else all): the day its current stay in quarantine began (the run that
    put it there, + 1 day). Rows are sorted by record, day and run (``facts.load``)."""
    rows = facts.rows[facts.rows["written_at"] < stamp(cut_off)]
    if records is not None:
        rows = rows[rows["record_id"].isin(records)]
    since: dict[str, dt.date] = {}
    for rid, outcome, day in zip(rows["record_id"], rows["outcome"], rows["day"], strict=True):
        if outcome == "quarantined":
            since.setdefault(rid, dt.date.fromisoformat(day) + dt.timedelta(days=1))
        else:
            since.pop(rid, None)
    return since


def review_list(rec: pd.DataFrame, facts: Facts, cut_off: dt.datetime) -> list[dict[str, Any]]:
    levels = {int(x["level"]): x["name_zh"] for x in review_policy()["levels"]}
    reasons = {"clean": "无问题", "warnings": "有提示", "natural_person": "自然人", "near_duplicate": "疑似重复",
               "correction": "更正", "withdrawal": "撤销"}
    as_of_day = (cut_off - dt.timedelta(microseconds=1)).date()
    rv = facts.reviews.sort_values(["record_id", "created_at"])
    latest = rv.drop_duplicates("record_id", keep="last").set_index("record_id")
    first_wait = rv.drop_duplicates("record_id", keep="first").set_index("record_id")["created_at"]
    done: Counter[tuple[str, str, str, int]] = Counter()
    for row in facts.review_decisions.itertuples(index=False):
        done[(row.record_id, row.content_hash, row.op, int(row.level))] += 1
    out = []
    for r in rec[rec["status"] == "awaiting_review"].to_dict("records"):
        level_zh, waited = "—", None
        if r["record_id"] in latest.index:
            x = latest.loc[r["record_id"]]
            required = [int(v) for v in str(x["levels_required"]).split(",") if v]
            nxt = next((lv for lv in required if not done[(r["record_id"], x["content_hash"], x["op"], lv)]), None)
            level_zh = f"第{nxt}级（{levels.get(nxt, '')}）" if nxt else "待下次运行处理"
            began = dt.datetime.fromisoformat(str(first_wait[r["record_id"]])).astimezone(cut_off.tzinfo).date()
            waited = (as_of_day - began).days
        out.append({**_base(r), "审核原因": reasons.get(str(r["review_reason"]), str(r["review_reason"] or "—")),
                    "待审核层级": level_zh, "等待天数": waited})
    return out


def exempt_list(rec: pd.DataFrame) -> list[dict[str, Any]]:
    rules = {x["id"]: x for x in rule_data("exemptions")["exemptions"]}
    out = []
    for r in rec[rec["status"] == "exempt"].to_dict("records"):
        rule = rules.get(r["exempt_rule"], {})
        out.append({**_base(r), "免于公示规则": rule.get("title_zh", r["exempt_rule"]),
                    "核实状态": "已核实" if rule.get("mark") == "S" else "未核实（M）" if rule.get("mark") == "M"
                    else "本地口径"})
    return out


def rejection_counts(rec: pd.DataFrame, facts: Facts) -> list[dict[str, Any]]:
    """Records of the period the platform rejected (as of the cut-off), by the platform's code."""
    messages: dict[str, str] = {}
    f = facts.findings[facts.findings["rule_id"] == "PLATFORM_REJECTED"]
    for detail in f["detail"]:
        code, _, text = str(detail or "").partition(" ")
        messages.setdefault(code, text)
    counts: Counter[str] = Counter()
    dec = rec[~rec["copy"]] if len(rec) else rec
    for codes in dec["rejected_codes"].dropna():
        for code in str(codes).split(","):
            counts[code] += 1
    return [{"平台返回代码": code, "平台说明": mask_text(messages.get(code, "")), "记录数": n}
            for code, n in sorted(counts.items())]


UNREADABLE_ZH = "不详（文件无法读取）"


def unreadable_list(files: pd.DataFrame) -> list[dict[str, Any]]:
    """The unreadable district files of the period (:func:`figures.unreadable_files`): district, 承办科室 and
    reason are known from the file and its rejection, the decisions in it are not."""
    unknown = str(rule_data("organisation")["districts"]["unknown"])
    out = []
    for r in files.to_dict("records"):
        m = _FILE_DISTRICT.match(str(r["file_name"]))
        district = m.group(2) if m else unknown
        out.append({"类别": KIND_LABELS.get(r["kind"], r["kind"]), "区县": district,
                    "承办科室": department_of("district_file", None, district), "文件": mask_text(str(r["file_name"])),
                    "接收日期": str(r["day"]),
                    "未报送原因": mask_text(f"区县报送文件无法读取：{r['reason'] or '原因未记录'}"),
                    "所含决定数": UNREADABLE_ZH})
    return out


def not_published_reasons(rows: list[dict[str, Any]], rec: pd.DataFrame,
                          unreadable: list[dict[str, Any]] | None = None) -> str:
    """未报送原因 of a department's records: counts by status, the quarantine by rule."""
    labels = rule_data("definitions")["rule_labels"]
    parts = []
    q = Counter(labels.get(rule, rule) for row in rows for rule in set(row["_rules"]))
    statuses = Counter(rec["status"].dropna())
    if statuses.get("quarantined"):
        detail = "、".join(f"{k}{v}" for k, v in sorted(q.items()))
        n = statuses["quarantined"]
        parts.append(f"问题数据{n}条（{detail}）" if detail else f"问题数据{n}条")
    for status, zh in (("awaiting_review", "待审核"), ("in_flight", "上报中"), ("exempt", "免于公示"),
                       ("other", "其他")):
        if statuses.get(status):
            parts.append(f"{zh}{statuses[status]}条")
    if unreadable:
        parts.append(f"区县报送文件无法读取{len(unreadable)}个（所含决定数不详）")
    return "；".join(parts) or "—"


def payload_lookup(engine: Any) -> Any:
    """A ``payloads`` callable for :func:`figures.records_of`: the standardised payload of given rows."""
    from creditflow.feedback.facts import attributes

    def lookup(rows: pd.DataFrame) -> dict[str, dict[str, Any]]:
        attrs = attributes(engine, rows[["run_key", "record_id"]])
        return dict(zip(attrs["record_id"], attrs["payload"], strict=True))

    return lookup

