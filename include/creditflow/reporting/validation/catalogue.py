"""The rule catalogue (ids, severities, Chinese messages, thresholds — all data) and the rule list of a
record kind, generated from the field dictionary plus the cross-field rules."""

from __future__ import annotations

import csv
import datetime as dt
from dataclasses import dataclass
from dataclasses import field as dc_field
from functools import cache
from importlib import resources
from typing import Any

from creditflow.common import mask_text
from creditflow.core import identifiers as ids
from creditflow.core import standard
from creditflow.reporting.validation import text

ORG = ("法人及非法人组织", "个体工商户")
PERSON = "自然人"
ISSUE_COLUMNS = ["_row", "field", "rule_id", "severity", "detail"]


@dataclass(frozen=True)
class RuleInfo:
    rule_id: str
    severity: str
    message_zh: str
    source: str


@cache
def thresholds() -> dict[str, Any]:
    import yaml

    path = resources.files("creditflow") / "data" / "rules" / "thresholds.yaml"
    return {k: v["value"] for k, v in yaml.safe_load(path.read_text(encoding="utf-8")).items()}


@cache
def rule_catalogue() -> dict[str, RuleInfo]:
    path = resources.files("creditflow") / "data" / "rules" / "validation_rules.csv"
    with path.open(encoding="utf-8") as fh:
        return {r["rule_id"]: RuleInfo(r["rule_id"], r["severity"], r["message_zh"], r["source"])
                for r in csv.DictReader(fh)}


def message_zh(rule_id: str, field_code: str, kind: str | None = None, detail: str | None = None,
               value: str | None = None) -> str:
    """The clerk-facing Chinese message of a finding."""
    info = rule_catalogue()[rule_id]
    fmap = {}
    for k in standard.KINDS if kind is None else (kind,):
        fmap.update(standard.field_map(k))
    f = fmap.get(field_code)
    return info.message_zh.format(name_zh=f.name_zh if f else field_code, field=field_code,
                                  max_len=f.max_len if f else "", detail=detail or "", value=value or "")


@dataclass(frozen=True)
class Rule:
    rule_id: str
    field: str
    check: str  # not_null | max_len | in_set | custom
    columns: tuple[str, ...]
    params: dict[str, Any] = dc_field(default_factory=dict, hash=False)
    severity: str = "error"
    variant: str = ""  # tells apart rules with the same id and field (XK_YXQZI after XK_YXQZ / XK_JDRQ)

    @property
    def name(self) -> str:
        """Unique within a kind: GX results are mapped back to rules by this name."""
        return f"{self.rule_id}:{self.field}" + (f"/{self.variant}" if self.variant else "")


# (earlier, later, strict, bound): ``"publicity"`` — the later date lies within the longest maximum publicity
# period of the rule data (core.publicity.longest_max_months), plus the longest official rest-day run, by which
# 民法典 第二百零三条 may move a period's last day (core.workdays.longest_rest_run).
_DATE_ORDER: dict[str, list[tuple[str, str, bool, str | None]]] = {
    "penalty": [("CF_JDRQ", "CF_YXQ", False, None), ("CF_JDRQ", "CF_GSJZQ", True, "publicity")],
    "license": [("XK_YXQZ", "XK_YXQZI", False, None), ("XK_JDRQ", "XK_YXQZI", False, None)],
    "coercion": [("QZ_JDRQ", "QZ_QXZ", False, None), ("QZ_QXZ", "QZ_QXZI", False, None),
                 ("QZ_QXZ", "QZ_JCRQ", False, None)],
}
_AUTHORITY_CODE = {"penalty": "CF_CFJGDM", "license": "XK_XKJGDM", "coercion": "QZ_SSJGDM"}
_MULTI_ENUMS = {"CF_CFLB"}
_OTHER_ENUMS = {"XK_XKLB", "QZ_CSLX"}


def rules_for(kind: str, as_of: dt.date) -> list[Rule]:
    """Every rule of ``kind``; ``as_of`` is the reference date for "not in the future"."""
    p = standard.PREFIX[kind]
    fmap = standard.field_map(kind)
    lb = f"{p}_XDR_LB"
    out: list[Rule] = []

    def custom(rule_id: str, fld: str, pred: str, columns: list[str], severity: str | None = None,
               variant: str = "", **params: Any) -> None:
        sev = severity or rule_catalogue()[rule_id].severity
        out.append(Rule(rule_id, fld, "custom", tuple(dict.fromkeys(columns)), {"predicate": pred, **params}, sev,
                        variant))

    blank = text.text_patterns()["blank"]  # whitespace and invisible characters only: not filled
    for f in standard.fields(kind):
        if f.always_required:
            out.append(Rule("REQUIRED", f.code, "not_null", (f.code,), {"blank": blank}))
        if f.max_len and f.type not in ("date", "decimal"):
            out.append(Rule("MAX_LENGTH", f.code, "max_len", (f.code,), {"max_len": f.max_len}))
        if f.type == "date":
            # Strict YYYY-MM-DD and a real date (year 0000 and 2026-02-30 are not): one predicate for both
            # engines — GX's strftime expectation would take 2026-1-5 and other scripts' digits.
            custom("DATE_FORMAT", f.code, "iso_date", [f.code], column=f.code)
        if f.type == "enum":
            values = list(standard.enum_values(f.code))
            if f.code in _OTHER_ENUMS:
                custom("ENUM", f.code, "multi_in_set", [f.code], column=f.code, values=values, other_ok=True)
                custom("OTHER_NEEDS_DETAIL", f.code, "other_needs_detail", [f.code], column=f.code)
            else:
                out.append(Rule("ENUM", f.code, "in_set", (f.code,), {"values": values}))
        if f.type == "enum-multi" and f.code in _MULTI_ENUMS:
            values = list(standard.enum_values(f.code))
            custom("ENUM", f.code, "multi_in_set", [f.code], column=f.code, values=values, other_ok=True)
            custom("OTHER_NEEDS_DETAIL", f.code, "other_needs_detail", [f.code], column=f.code)
        if f.type == "decimal":
            custom("AMOUNT_FORMAT", f.code, "amount_format", [f.code], column=f.code)
        if f.type == "text" or f.code in _MULTI_ENUMS or f.code in _OTHER_ENUMS:
            # Published free text ("其他-…" enumeration values too): no markup, no control characters.
            tp = text.text_patterns()
            name = text.name_field(f.code)
            unsafe = tp["unsafe_name" if name else "unsafe"]
            custom("TEXT_UNSAFE", f.code, "text_safe", [f.code], column=f.code, pattern=unsafe)
            if name:
                custom("NAME_CHARS", f.code, "text_shape", [f.code], column=f.code, shape=tp["name_chars"],
                       unsafe=unsafe)
            if f.code.endswith("_WSH"):
                custom("DOC_NO_FORMAT", f.code, "text_shape", [f.code], column=f.code, shape=tp["doc_no"],
                       unsafe=unsafe)
        if f.type == "uscc":
            if f.code.endswith("_XDR_SHXYM"):
                custom("USCC_INVALID", f.code, "uscc", [f.code, lb], column=f.code, allow_placeholder=True,
                       when_column=lb, when_in=list(ORG))
            else:
                custom("USCC_INVALID", f.code, "uscc", [f.code], column=f.code)

    dd = standard.DECISION_DATE[kind]
    custom("DATE_FUTURE", dd, "not_future", [dd], column=dd, as_of=as_of.isoformat())
    for earlier, later, strict, bound in _DATE_ORDER[kind]:
        limits: dict[str, Any] = {}
        if bound == "publicity":
            from creditflow.core.publicity import longest_max_months
            from creditflow.core.workdays import longest_rest_run

            limits = {"max_months": longest_max_months(), "grace_days": longest_rest_run()}
        custom("DATE_ORDER", later, "date_order", [earlier, later], variant=earlier, earlier=earlier,
               later=later, strict=strict, **limits)

    shxym = f"{p}_XDR_SHXYM"
    custom("REQUIRED_IF", shxym, "required_if", [shxym, lb], column=shxym, when_column=lb, when_in=list(ORG),
           blank=blank)
    if f"{p}_FRDB" in fmap:
        custom("REQUIRED_IF", f"{p}_FRDB", "required_if", [f"{p}_FRDB", lb], column=f"{p}_FRDB",
               when_column=lb, when_in=list(ORG), blank=blank)
    for c in (f"{p}_XDR_ZJLX", f"{p}_XDR_ZJHM"):
        custom("REQUIRED_IF", c, "required_if", [c, lb], column=c, when_column=lb, when_in=[PERSON], blank=blank)
        custom("ORG_MUST_NOT_HAVE_PERSON_ID", c, "empty_if", [c, lb], column=c, when_column=lb,
               when_in=list(ORG))
    others = [f"{p}_XDR_{s}" for s in ("GSZC", "ZZJG", "SWDJ", "SYDW", "SHZZ")]
    for c in [shxym, *others, f"{p}_FRDB"]:
        if c in fmap:
            custom("PERSON_MUST_NOT_HAVE_ORG_CODE", c, "empty_if", [c, lb], column=c, when_column=lb,
                   when_in=[PERSON])
    custom("PLACEHOLDER_NEEDS_OTHER_CODE", shxym, "placeholder_needs_other", [shxym, *others],
           column=shxym, others=others)
    custom("USCC_ORG_CODE", shxym, "uscc_org_code", [shxym], column=shxym)
    custom("SOLE_TRADER_USCC_PREFIX", shxym, "prefix", [shxym, lb], column=shxym, prefix="92",
           when_column=lb, when_in=["个体工商户"])
    auth = _AUTHORITY_CODE[kind]
    custom("AUTHORITY_USCC_PREFIX", auth, "prefix", [auth], column=auth, prefix="11")
    ric_fields: list[tuple[str, str, dict[str, Any]]] = [
        (f"{p}_XDR_ZJHM", f"{p}_XDR_ZJLX", {"when_column": lb, "when_in": [PERSON]})]
    if f"{p}_FR_ZJHM" in fmap:
        ric_fields.append((f"{p}_FR_ZJHM", f"{p}_FR_ZJLX", {}))
    for number, id_type, when in ric_fields:
        columns = [number, id_type, *([str(when["when_column"])] if when else [])]
        custom("RIC_INVALID", number, "ric", columns, column=number, type_column=id_type,
               as_of=as_of.isoformat(), **when)
        custom("RIC_AREA_UNKNOWN", number, "ric_area", columns, column=number, type_column=id_type,
               as_of=as_of.isoformat(), **when)

    if kind == "penalty":
        amount_rules = [("CF_NR_FK", ["罚款"]), ("CF_NR_WFFF", ["没收违法所得", "没收非法财物"])]
        for col, cats in amount_rules:
            custom("AMOUNT_REQUIRED", col, "contains_required", [col, "CF_CFLB"], column=col,
                   categories="CF_CFLB", any_of=cats, positive=True)
            custom("AMOUNT_WITHOUT_CATEGORY", col, "amount_without_category", [col, "CF_CFLB"], column=col,
                   categories="CF_CFLB", any_of=cats)
        custom("REQUIRED_IF", "CF_NR_ZKDX", "contains_required", ["CF_NR_ZKDX", "CF_CFLB"],
               column="CF_NR_ZKDX", categories="CF_CFLB", any_of=["暂扣许可证件", "吊销许可证件"], blank=blank)
        custom("AMOUNT_UNIT", "CF_NR_FK", "amount_unit", ["CF_NR_FK", "CF_NR"], column="CF_NR_FK",
               text="CF_NR", max_plausible=thresholds()["max_plausible_fine_wan"])
    if kind == "coercion":
        custom("REQUIRED_IF", "QZ_JCRQ", "required_if", ["QZ_JCRQ", "QZ_ZT"], column="QZ_JCRQ",
               when_column="QZ_ZT", when_in=["2"], blank=blank)
        # 行政强制法 art. 25: 查封/扣押 ≤ 30 days, one extension ≤ 30 days with approval. The field set has
        # no extension field: over 30 days asks whether an extension was approved, over 60 is an error.
        # Both the decided end (期限至) and the lifting date (解除日期) are measured from 期限自.
        limit, extension = thresholds()["seizure_max_days"], thresholds()["seizure_extension_max_days"]
        measures = list(thresholds()["seizure_measures"])
        for end in ("QZ_QXZI", "QZ_JCRQ"):
            cols = ["QZ_CSLX", "QZ_QXZ", end]
            custom("SEIZURE_OVER_30_DAYS", end, "seizure_period", cols, column=end, start="QZ_QXZ",
                   measure_column="QZ_CSLX", measures=measures, above=limit, at_most=limit + extension)
            custom("SEIZURE_OVER_60_DAYS", end, "seizure_period", cols, column=end, start="QZ_QXZ",
                   measure_column="QZ_CSLX", measures=measures, above=limit + extension, at_most=None)
    names = [r.name for r in out]
    if len(set(names)) != len(names):
        raise ValueError(f"rule names must be unique per kind: {sorted({n for n in names if names.count(n) > 1})}")
    return out


def _name_zh(code: str) -> str:
    for kind in standard.KINDS:
        f = standard.field_map(kind).get(code)
        if f:
            return f.name_zh
    return code


def detail(rule: Rule, row: dict[str, Any]) -> str:
    """The finding's detail (only computed for failing rows). It may quote a value — an ID number typed
    into the wrong column, say — so it is masked here, once, for every engine and every reader."""
    return mask_text(_detail(rule, row))


def _detail(rule: Rule, row: dict[str, Any]) -> str:
    p = rule.params
    value = row.get(rule.field)
    if rule.rule_id == "USCC_INVALID":
        return "；".join(ids.validate_uscc(value)) or "校验失败"
    if rule.rule_id in ("RIC_INVALID", "RIC_AREA_UNKNOWN"):
        check = ids.check_ric(value, dt.date.fromisoformat(p["as_of"]))
        return "；".join(check.errors or check.warnings) or "校验失败"
    if rule.rule_id == "TEXT_UNSAFE":
        return text.unsafe_details([value], p["pattern"])[0]
    if rule.rule_id == "NAME_CHARS":
        return "、".join(f"“{c}”" for c in text.unusual_chars(value, p["shape"])[:5])
    if rule.rule_id == "DOC_NO_FORMAT":  # masked whole, then cut: a cut-off ID number escapes the masking
        return mask_text(value)[:64]
    if rule.rule_id in ("ENUM", "DATE_FORMAT"):
        return str(value)
    if rule.rule_id == "DATE_ORDER":
        earlier, later = p["earlier"], p["later"]
        if p.get("max_months"):
            months = int(p["max_months"])
            span = f"{months // 12}年" if months % 12 == 0 else f"{months}个月"
            return f"{later}应晚于{earlier}且不超过其后{span}（最长公示期，期末遇法定节假日顺延）"
        return f"{later}不能早于{earlier}"
    if rule.rule_id == "REQUIRED_IF":
        if p["predicate"] == "required_if":
            return f"{_name_zh(p['when_column'])}为“{row.get(p['when_column'])}”"
        return f"处罚类别包含{'/'.join(p['any_of'])}"
    if rule.rule_id == "AMOUNT_REQUIRED":
        return "/".join(p["any_of"])
    if rule.rule_id == "AMOUNT_UNIT":
        return f"填报值{value}万元，处罚内容为“{mask_text(row.get(p['text']))[:40]}”"
    if rule.rule_id in ("SEIZURE_OVER_30_DAYS", "SEIZURE_OVER_60_DAYS"):
        start, end = row.get(p["start"]), row.get(rule.field)
        try:
            days = (dt.date.fromisoformat(str(end)) - dt.date.fromisoformat(str(start))).days
        except ValueError:
            return f"{p['start']} {start} 至 {rule.field} {end}"
        return f"{p['start']} {start} 至 {rule.field} {end}，共{days}日"
    return ""


def details(rule: Rule, rows: list[dict[str, Any]]) -> list[str]:
    """:func:`detail` of many failing rows of one rule (the text rules match their values in one call)."""
    if rule.rule_id == "TEXT_UNSAFE":
        found = text.unsafe_details([row.get(rule.field) for row in rows], rule.params["pattern"])
        return [mask_text(d) for d in found]
    if rule.rule_id == "NAME_CHARS":
        text.learn_chars([row.get(rule.field) for row in rows], rule.params["shape"])
    return [detail(rule, row) for row in rows]
