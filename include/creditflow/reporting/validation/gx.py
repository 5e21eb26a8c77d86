"""The Great Expectations engine: native expectations where GX has them (not null, value lengths, value
sets) and the custom multicolumn expectation :class:`ExpectRecordsToSatisfyCreditflowRule` for the
cross-field, date and identifier rules (it calls the same predicates as the pandas engine)."""

from __future__ import annotations

import datetime as dt
import json
from functools import cache
from typing import Any

import pandas as pd

from creditflow.reporting.validation.catalogue import rules_for
from creditflow.reporting.validation.engines import findings, prepare
from creditflow.reporting.validation.predicates import PREDICATES


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
            return PREDICATES[params["predicate"]](column_list, params).astype(bool)

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
        else:
            # GX wants ≥ 2 columns in a multicolumn domain: `_row` rides along, the predicate ignores it.
            exp = custom_cls(column_list=[*rule.columns, "_row"],
                             rule_params=json.dumps(rule.params, ensure_ascii=False), meta=meta)
        suite.add_expectation(exp)
    return suite


def _gx_frame(frame: pd.DataFrame) -> pd.DataFrame:
    """Object columns with ``None`` for missing: GX's value-length and set checks want plain strings."""
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
    return findings(failures, frame), result


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
