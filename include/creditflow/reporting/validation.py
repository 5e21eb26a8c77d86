"""Quality rules of the 双公示 standard, generated from the field dictionary, and their evaluation.

One rule list (:func:`rules_for`) drives two engines that must agree row for row:

* :func:`validate_gx` — Great Expectations 1.x: native expectations where GX has them (not null,
  value lengths, value sets, strftime dates) and the custom multicolumn expectation
  :class:`ExpectRecordsToSatisfyCreditflowRule` for the cross-field and identifier rules;
* :func:`validate_pandas` — the same rules hand-vectorised in pandas (the benchmark floor).

Input is a *standardised* frame (see :mod:`creditflow.standardise`): one column per field code, text
values or ``None``, dates in ISO form where readable, amounts in 万元 as decimal text, and a unique
``_row`` column. Output is a frame of findings: ``_row, field, rule_id, severity, detail``.
"""

from __future__ import annotations

import csv
import datetime as dt
import json
from collections.abc import Callable
from dataclasses import dataclass
from dataclasses import field as dc_field
from functools import cache
from importlib import resources
from typing import Any

import numpy as np
import pandas as pd

from creditflow.core import identifiers as ids
from creditflow.core import standard

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


# --- rules -------------------------------------------------------------------------------------------

Predicate = Callable[[pd.DataFrame, dict[str, Any]], pd.Series]


@dataclass(frozen=True)
class Rule:
    rule_id: str
    field: str
    check: str  # not_null | max_len | in_set | date | custom
    columns: tuple[str, ...]
    params: dict[str, Any] = dc_field(default_factory=dict, hash=False)
    severity: str = "error"

    @property
    def name(self) -> str:
        return f"{self.rule_id}:{self.field}"


_PREDICATES: dict[str, Predicate] = {}


def predicate(name: str) -> Callable[[Predicate], Predicate]:
    def register(fn: Predicate) -> Predicate:
        _PREDICATES[name] = fn
        return fn
    return register


def _present(s: pd.Series) -> pd.Series:
    """Non-empty (``prepare`` has turned blank strings into nulls already)."""
    return s.notna() & (s != "")


def _dates(s: pd.Series) -> pd.Series:
    return pd.to_datetime(s, format="%Y-%m-%d", errors="coerce")


def _num(s: pd.Series) -> pd.Series:
    return pd.to_numeric(s.astype(object), errors="coerce").astype("float64")


@predicate("required_if")
def _required_if(df: pd.DataFrame, p: dict[str, Any]) -> pd.Series:
    cond = df[p["when_column"]].isin(p["when_in"])
    return ~cond | _present(df[p["column"]])


@predicate("empty_if")
def _empty_if(df: pd.DataFrame, p: dict[str, Any]) -> pd.Series:
    cond = df[p["when_column"]].isin(p["when_in"])
    return ~cond | ~_present(df[p["column"]])


def _contains_any(df: pd.DataFrame, column: str, words: list[str]) -> pd.Series:
    text = df[column].fillna("").astype(str)
    found = pd.Series(False, index=df.index)
    for word in words:
        found |= text.str.contains(word, regex=False)
    return found


@predicate("contains_required")
def _contains_required(df: pd.DataFrame, p: dict[str, Any]) -> pd.Series:
    need = _contains_any(df, p["categories"], p["any_of"])
    if p.get("positive"):
        ok = _num(df[p["column"]]) > 0
    else:
        ok = _present(df[p["column"]])
    return ~need | ok


@predicate("amount_without_category")
def _amount_without_category(df: pd.DataFrame, p: dict[str, Any]) -> pd.Series:
    return _contains_any(df, p["categories"], p["any_of"]) | ~(_num(df[p["column"]]) > 0)


@predicate("amount_format")
def _amount_format(df: pd.DataFrame, p: dict[str, Any]) -> pd.Series:
    s = df[p["column"]]
    text = s.astype("string").str.strip()
    ok = text.str.fullmatch(r"\d{1,12}(\.\d{1,6})?", na=False)
    return ~_present(s) | ok


@predicate("amount_unit")
def _amount_unit(df: pd.DataFrame, p: dict[str, Any]) -> pd.Series:
    """元 entered where 万元 is meant (or the reverse): the amount is 10,000× (or 1/10,000 of) the one
    the 处罚内容 text states, or beyond any plausible fine."""
    amount = _num(df[p["column"]])
    ok = ~(amount > p["max_plausible"])
    text = df[p["text"]].astype("string")
    m = text.str.extract(_FINE_IN_TEXT)
    number = _num(m[0].str.replace(r"[,，]", "", regex=True))
    stated = number.where(m[1] != "元", number / 10000)  # in 万元
    bad = ((stated * 10000 - amount).abs() < 1e-6) | ((amount * 10000 - stated).abs() < 1e-6)
    return ok & ~bad.fillna(False).astype(bool)


_FINE_IN_TEXT = r"罚款(?:人民币)?\s*([0-9][0-9,，]*(?:\.[0-9]+)?)\s*(万元|万|元)"


@predicate("multi_in_set")
def _multi_in_set(df: pd.DataFrame, p: dict[str, Any]) -> pd.Series:
    s = df[p["column"]]
    allowed = set(p["values"])
    text = s.astype("string").fillna("")
    parts = text.str.replace("；", ";", regex=False).str.split(";")
    exploded = parts.explode().str.strip()
    part_ok = exploded.isin(allowed) | (exploded.str.startswith("其他-") & p.get("other_ok", True))
    part_ok &= exploded != ""
    ok = part_ok.groupby(level=0).all()
    return ~_present(s) | ok.reindex(df.index, fill_value=False)


@predicate("other_needs_detail")
def _other_needs_detail(df: pd.DataFrame, p: dict[str, Any]) -> pd.Series:
    text = df[p["column"]].astype("string").fillna("").str.replace("；", ";", regex=False)
    return ~text.str.split(";").apply(lambda xs: any(x.strip() == "其他" for x in xs))


@predicate("not_future")
def _not_future(df: pd.DataFrame, p: dict[str, Any]) -> pd.Series:
    d = _dates(df[p["column"]])
    return d.isna() | (d <= pd.Timestamp(p["as_of"]))


@predicate("date_order")
def _date_order(df: pd.DataFrame, p: dict[str, Any]) -> pd.Series:
    a, b = _dates(df[p["earlier"]]), _dates(df[p["later"]])
    ok = (b > a) if p.get("strict") else (b >= a)
    if p.get("max_years"):
        ok &= b <= a + pd.DateOffset(years=p["max_years"])
    return a.isna() | b.isna() | ok


@predicate("uscc")
def _uscc(df: pd.DataFrame, p: dict[str, Any]) -> pd.Series:
    s = df[p["column"]]
    ok = ids.uscc_valid_series(s)
    skip = ~_present(s)
    if p.get("allow_placeholder"):
        skip |= s == ids.USCC_PLACEHOLDER
    if p.get("when_in"):
        skip |= ~df[p["when_column"]].isin(p["when_in"])
    return skip | ok


@predicate("uscc_org_code")
def _uscc_org_code(df: pd.DataFrame, p: dict[str, Any]) -> pd.Series:
    s = df[p["column"]]
    valid = ids.uscc_valid_series(s)
    return ~valid | ids.uscc_org_code_ok_series(s)


@predicate("prefix")
def _prefix(df: pd.DataFrame, p: dict[str, Any]) -> pd.Series:
    s = df[p["column"]]
    skip = ~ids.uscc_valid_series(s)
    if p.get("when_in"):
        skip |= ~df[p["when_column"]].isin(p["when_in"])
    return skip | s.astype("string").str.startswith(p["prefix"]).fillna(False)


@predicate("placeholder_needs_other")
def _placeholder_needs_other(df: pd.DataFrame, p: dict[str, Any]) -> pd.Series:
    is_placeholder = df[p["column"]] == ids.USCC_PLACEHOLDER
    any_other = pd.Series(False, index=df.index)
    for c in p["others"]:
        any_other |= _present(df[c])
    return ~is_placeholder | any_other


@predicate("ric")
def _ric(df: pd.DataFrame, p: dict[str, Any]) -> pd.Series:
    s = df[p["column"]]
    applies = _present(s) & (df[p["type_column"]] == "身份证")
    if p.get("when_in"):
        applies &= df[p["when_column"]].isin(p["when_in"])
    ok = pd.Series(True, index=df.index)
    if applies.any():
        cand = s[applies]
        checksum = ids.ric_checksum_ok_series(cand)
        ok.loc[cand.index] = checksum
        passed = cand[checksum]
        if len(passed):  # birth date and birth place: per unique value (natural persons are few)
            uniq = {v: not ids.validate_ric(v) for v in passed.unique()}
            ok.loc[passed.index] = passed.map(uniq).astype(bool)
    return ok


# --- rule list from the field dictionary -------------------------------------------------------------

_DATE_ORDER: dict[str, list[tuple[str, str, bool, int | None]]] = {
    "penalty": [("CF_JDRQ", "CF_YXQ", False, None), ("CF_JDRQ", "CF_GSJZQ", True, 3)],
    "license": [("XK_YXQZ", "XK_YXQZI", False, None), ("XK_JDRQ", "XK_YXQZI", False, None)],
    "coercion": [("QZ_JDRQ", "QZ_QXZ", False, None), ("QZ_QXZ", "QZ_QXZI", False, None),
                 ("QZ_QXZ", "QZ_JCRQ", False, None)],
}
_DECISION_DATE = {"penalty": "CF_JDRQ", "license": "XK_JDRQ", "coercion": "QZ_JDRQ"}
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
               **params: Any) -> None:
        sev = severity or rule_catalogue()[rule_id].severity
        out.append(Rule(rule_id, fld, "custom", tuple(dict.fromkeys(columns)), {"predicate": pred, **params}, sev))

    for f in standard.fields(kind):
        if f.always_required:
            out.append(Rule("REQUIRED", f.code, "not_null", (f.code,)))
        if f.max_len and f.type not in ("date", "decimal"):
            out.append(Rule("MAX_LENGTH", f.code, "max_len", (f.code,), {"max_len": f.max_len}))
        if f.type == "date":
            out.append(Rule("DATE_FORMAT", f.code, "date", (f.code,)))
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
        if f.type == "uscc":
            if f.code.endswith("_XDR_SHXYM"):
                custom("USCC_INVALID", f.code, "uscc", [f.code, lb], column=f.code, allow_placeholder=True,
                       when_column=lb, when_in=list(ORG))
            else:
                custom("USCC_INVALID", f.code, "uscc", [f.code], column=f.code)

    dd = _DECISION_DATE[kind]
    custom("DATE_FUTURE", dd, "not_future", [dd], column=dd, as_of=as_of.isoformat())
    for earlier, later, strict, max_years in _DATE_ORDER[kind]:
        custom("DATE_ORDER", later, "date_order", [earlier, later], earlier=earlier, later=later,
               strict=strict, max_years=max_years)

    shxym = f"{p}_XDR_SHXYM"
    custom("REQUIRED_IF", shxym, "required_if", [shxym, lb], column=shxym, when_column=lb, when_in=list(ORG))
    if f"{p}_FRDB" in fmap:
        custom("REQUIRED_IF", f"{p}_FRDB", "required_if", [f"{p}_FRDB", lb], column=f"{p}_FRDB",
               when_column=lb, when_in=list(ORG))
    for c in (f"{p}_XDR_ZJLX", f"{p}_XDR_ZJHM"):
        custom("REQUIRED_IF", c, "required_if", [c, lb], column=c, when_column=lb, when_in=[PERSON])
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
    custom("RIC_INVALID", f"{p}_XDR_ZJHM", "ric", [f"{p}_XDR_ZJHM", f"{p}_XDR_ZJLX", lb],
           column=f"{p}_XDR_ZJHM", type_column=f"{p}_XDR_ZJLX", when_column=lb, when_in=[PERSON])
    if f"{p}_FR_ZJHM" in fmap:
        custom("RIC_INVALID", f"{p}_FR_ZJHM", "ric", [f"{p}_FR_ZJHM", f"{p}_FR_ZJLX"],
               column=f"{p}_FR_ZJHM", type_column=f"{p}_FR_ZJLX")

    if kind == "penalty":
        amount_rules = [("CF_NR_FK", ["罚款"]), ("CF_NR_WFFF", ["没收违法所得", "没收非法财物"])]
        for col, cats in amount_rules:
            custom("AMOUNT_REQUIRED", col, "contains_required", [col, "CF_CFLB"], column=col,
                   categories="CF_CFLB", any_of=cats, positive=True)
            custom("AMOUNT_WITHOUT_CATEGORY", col, "amount_without_category", [col, "CF_CFLB"], column=col,
                   categories="CF_CFLB", any_of=cats)
        custom("REQUIRED_IF", "CF_NR_ZKDX", "contains_required", ["CF_NR_ZKDX", "CF_CFLB"],
               column="CF_NR_ZKDX", categories="CF_CFLB", any_of=["暂扣许可证件", "吊销许可证件"])
        custom("AMOUNT_UNIT", "CF_NR_FK", "amount_unit", ["CF_NR_FK", "CF_NR"], column="CF_NR_FK",
               text="CF_NR", max_plausible=thresholds()["max_plausible_fine_wan"])
    if kind == "coercion":
        custom("REQUIRED_IF", "QZ_JCRQ", "required_if", ["QZ_JCRQ", "QZ_ZT"], column="QZ_JCRQ",
               when_column="QZ_ZT", when_in=["2"])
    return out


# --- details (only for failing rows) ----------------------------------------------------------------

def _detail(rule: Rule, row: dict[str, Any]) -> str:
    p = rule.params
    value = row.get(rule.field)
    if rule.rule_id == "USCC_INVALID":
        return "；".join(ids.validate_uscc(value)) or "校验失败"
    if rule.rule_id == "RIC_INVALID":
        return "；".join(ids.validate_ric(value)) or "校验失败"
    if rule.rule_id in ("ENUM", "DATE_FORMAT"):
        return str(value)
    if rule.rule_id == "DATE_ORDER":
        earlier, later = p["earlier"], p["later"]
        if p.get("max_years"):
            return f"{later}应晚于{earlier}且不超过其后{p['max_years']}年"
        return f"{later}不能早于{earlier}"
    if rule.rule_id == "REQUIRED_IF":
        if p["predicate"] == "required_if":
            return f"行政相对人类别为“{row.get(p['when_column'])}”"
        return f"处罚类别包含{'/'.join(p['any_of'])}"
    if rule.rule_id == "AMOUNT_REQUIRED":
        return "/".join(p["any_of"])
    if rule.rule_id == "AMOUNT_UNIT":
        return f"填报值{value}万元，处罚内容为“{str(row.get(p['text']))[:40]}”"
    return ""


# --- engines -----------------------------------------------------------------------------------------


def _native_ok(rule: Rule, df: pd.DataFrame) -> pd.Series:
    s = df[rule.field]
    if rule.check == "not_null":
        return _present(s)
    if rule.check == "max_len":
        return ~_present(s) | (s.astype("string").str.len() <= rule.params["max_len"]).fillna(True)
    if rule.check == "in_set":
        return ~_present(s) | s.isin(rule.params["values"])
    if rule.check == "date":
        return ~_present(s) | _dates(s).notna()
    raise ValueError(rule.check)


def _rule_ok(rule: Rule, df: pd.DataFrame) -> pd.Series:
    if rule.check == "custom":
        return _PREDICATES[rule.params["predicate"]](df, rule.params).astype(bool)
    return _native_ok(rule, df).astype(bool)


def prepare(df: pd.DataFrame, kind: str) -> pd.DataFrame:
    """Make sure every field column exists, empty strings are nulls and ``_row`` is present."""
    out = df.copy()
    for code in standard.codes(kind):
        if code not in out.columns:
            out[code] = None
        else:
            col = out[code].astype(object)
            blank = col.notna() & (col.astype(str).str.strip() == "")
            out[code] = col.where(~blank, None)
    if "_row" not in out.columns:
        out["_row"] = np.arange(len(out))
    return out.reset_index(drop=True)


def _findings(failures: list[tuple[Rule, pd.Index]], df: pd.DataFrame) -> pd.DataFrame:
    rows = []
    for rule, idx in failures:
        cols = [c for c in dict.fromkeys([rule.field, *rule.columns, *(
            [rule.params["when_column"]] if "when_column" in rule.params else []),
            *([rule.params["text"]] if "text" in rule.params else [])]) if c in df.columns]
        sub = df.loc[idx, ["_row", *cols]].to_dict("records")
        for rec in sub:
            rows.append((rec["_row"], rule.field, rule.rule_id, rule.severity, _detail(rule, rec)))
    out = pd.DataFrame(rows, columns=ISSUE_COLUMNS)
    return out.sort_values(["_row", "field", "rule_id"], kind="stable").drop_duplicates().reset_index(drop=True)


def validate_pandas(df: pd.DataFrame, kind: str, as_of: dt.date) -> pd.DataFrame:
    """Hand-vectorised evaluation of :func:`rules_for` (the benchmark floor; same findings as GX)."""
    frame = prepare(df, kind)
    failures = []
    for rule in rules_for(kind, as_of):
        ok = _rule_ok(rule, frame)
        bad = frame.index[~ok.to_numpy()]
        if len(bad):
            failures.append((rule, bad))
    return _findings(failures, frame)


# --- Great Expectations ------------------------------------------------------------------------------


@cache
def _gx_classes() -> Any:
    """Register the custom metric and expectation once (importing GX costs seconds: keep it lazy)."""
    from great_expectations.execution_engine import PandasExecutionEngine
    from great_expectations.expectations.expectation import MulticolumnMapExpectation
    from great_expectations.expectations.metrics.map_metric_provider import MulticolumnMapMetricProvider
    from great_expectations.expectations.metrics.map_metric_provider.multicolumn_condition_partial import (
        multicolumn_condition_partial,
    )

    class MulticolumnCreditflowRule(MulticolumnMapMetricProvider):
        condition_metric_name = "multicolumn_values.satisfy_creditflow_rule"
        condition_domain_keys = ("batch_id", "table", "column_list", "row_condition", "condition_parser",
                                 "ignore_row_if")
        condition_value_keys = ("rule_params",)

        @multicolumn_condition_partial(engine=PandasExecutionEngine)  # type: ignore[untyped-decorator]
        def _pandas(cls, column_list: pd.DataFrame, **kwargs: Any) -> pd.Series:
            params = json.loads(kwargs["rule_params"])
            return _PREDICATES[params["predicate"]](column_list, params).astype(bool)

    class ExpectRecordsToSatisfyCreditflowRule(MulticolumnMapExpectation):
        """Each record satisfies one creditflow rule over ``column_list`` (cross-field, identifiers)."""

        rule_params: str
        ignore_row_if: str = "never"  # type: ignore[assignment]
        map_metric = "multicolumn_values.satisfy_creditflow_rule"
        success_keys = ("mostly", "rule_params")
        args_keys = ("column_list", "rule_params")

    return ExpectRecordsToSatisfyCreditflowRule


def build_suite(kind: str, as_of: dt.date) -> Any:
    """The GX suite of ``kind``, generated from the field dictionary and the cross-field rules."""
    import great_expectations as gx
    import great_expectations.expectations as gxe

    custom_cls = _gx_classes()
    suite = gx.ExpectationSuite(name=f"sgs_{kind}")
    for rule in rules_for(kind, as_of):
        meta = {"rule_id": rule.rule_id, "field": rule.field, "severity": rule.severity, "name": rule.name}
        exp: Any
        if rule.check == "not_null":
            exp = gxe.ExpectColumnValuesToNotBeNull(column=rule.field, meta=meta)
        elif rule.check == "max_len":
            exp = gxe.ExpectColumnValueLengthsToBeBetween(column=rule.field, max_value=rule.params["max_len"],
                                                          meta=meta)
        elif rule.check == "in_set":
            exp = gxe.ExpectColumnValuesToBeInSet(column=rule.field, value_set=rule.params["values"], meta=meta)
        elif rule.check == "date":
            exp = gxe.ExpectColumnValuesToMatchStrftimeFormat(column=rule.field, strftime_format="%Y-%m-%d",
                                                              meta=meta)
        else:
            # GX wants ≥ 2 columns in a multicolumn domain: `_row` rides along, the predicate ignores it.
            exp = custom_cls(column_list=[*rule.columns, "_row"],
                             rule_params=json.dumps(rule.params, ensure_ascii=False), meta=meta)
        suite.add_expectation(exp)
    return suite


def _gx_frame(frame: pd.DataFrame) -> pd.DataFrame:
    """GX's strftime check needs strings; value-length checks need object strings."""
    return frame.astype(object).where(frame.notna(), None)


def validate_gx(df: pd.DataFrame, kind: str, as_of: dt.date, context: Any = None) -> tuple[pd.DataFrame, Any]:
    """Run the GX suite; returns (findings, the GX validation result for Data Docs)."""
    import great_expectations as gx
    from great_expectations.data_context.types.base import ProgressBarsConfig

    frame = prepare(df, kind)
    ctx = context or gx.get_context(mode="ephemeral")
    ctx.variables.progress_bars = ProgressBarsConfig(globally=False)
    name = f"sgs_{kind}"
    source: Any
    try:
        source = ctx.data_sources.get(name)
    except (KeyError, ValueError):
        source = ctx.data_sources.add_pandas(name=name)
    try:
        asset = source.get_asset("records")
    except (LookupError, ValueError):
        asset = source.add_dataframe_asset(name="records")
    try:
        batch_def = asset.get_batch_definition("whole")
    except (KeyError, ValueError):
        batch_def = asset.add_batch_definition_whole_dataframe("whole")
    suite = build_suite(kind, as_of)
    try:
        ctx.suites.delete(suite.name)
    except Exception:
        pass
    suite = ctx.suites.add(suite)
    vd_name = f"{name}_validation"
    try:
        ctx.validation_definitions.delete(vd_name)
    except Exception:
        pass
    vd = ctx.validation_definitions.add(gx.ValidationDefinition(name=vd_name, data=batch_def, suite=suite))
    result = vd.run(batch_parameters={"dataframe": _gx_frame(frame)},
                    result_format={"result_format": "COMPLETE", "unexpected_index_column_names": ["_row"],
                                   "partial_unexpected_count": 0})
    rules = {r.name: r for r in rules_for(kind, as_of)}
    row_index = pd.Series(frame.index, index=frame["_row"])
    failures = []
    for res in result.results:
        config = res.expectation_config
        assert config is not None
        error = _raised(res.exception_info)
        if error:
            raise RuntimeError(f"GX expectation {(config.meta or {}).get('name')} failed to run: {error}")
        if res.success:
            continue
        rule = rules[(config.meta or {})["name"]]
        unexpected = res.result.get("unexpected_index_list") or []
        rows = [u["_row"] if isinstance(u, dict) else u for u in unexpected]
        failures.append((rule, pd.Index(row_index.loc[rows].to_numpy())))
    return _findings(failures, frame), result


def _raised(info: Any) -> str | None:
    """GX reports errors either flat or per metric ({metric_id: {raised_exception, ...}})."""
    if not isinstance(info, dict):
        return None
    if info.get("raised_exception"):
        return str(info.get("exception_message") or "unknown error")
    for value in info.values():
        found = _raised(value)
        if found:
            return found
    return None


def with_messages(findings: pd.DataFrame, kind: str) -> pd.DataFrame:
    """Add the clerk-facing Chinese message to each finding."""
    out = findings.copy()
    out["message_zh"] = [
        message_zh(r, f, kind, d, d) for r, f, d in zip(out["rule_id"], out["field"], out["detail"], strict=True)
    ]
    return out

