"""The Great Expectations engine: one GX expectation per rule, asserted over the rule's verdicts.

Every rule of :func:`rules_for` is evaluated vectorised first (the same :func:`rule_ok` the pandas engine
uses: native checks and the predicates of :mod:`.predicates`), giving one *failure indicator* column per
rule, named by the rule (``REQUIRED:CF_WSH``, ``DATE_ORDER:CF_YXQ/CF_JDRQ`` …). GX then runs the suite of
the kind — one :class:`ExpectCreditflowRuleToHold` per rule, whose metric counts the failing records in
the rule's column (``column``) of the batch — and its per-rule counts are the ones the findings must have:
they are compared, and a difference is an error, not a finding.

Why this shape: GX builds a metric graph per expectation and per call (≈ 25 ms each for map
expectations, ≈ 3 s for the 82 of the penalty suite per call before), and its map metrics materialise
values and indices. A table metric over a precomputed boolean column is the cheapest graph GX has: one
node per expectation (a column-aggregate metric adds the table's columns, column types and row count to
each expectation's graph and looks the column up among all of them — ≈ 40 % more per run). The context,
data source, suite and validation definition of a kind are built once per process
(:func:`_validation_definition`), so a day's call costs the evaluation of the rules plus ≈ 40 ms of GX for
the penalty suite (:func:`_run_suite`: the suite is run without keeping its result in the context's
in-memory store).
Results carry counts only (no values): the 数据质量报告 pages show, per rule, how many of
how many records failed.
"""

from __future__ import annotations

import copy
import datetime as dt
import threading
from collections import OrderedDict
from functools import cache
from typing import Any

import numpy as np
import pandas as pd

from creditflow.core import standard
from creditflow.reporting.validation.catalogue import Rule, rules_for
from creditflow.reporting.validation.engines import findings, prepare, rule_ok
from creditflow.reporting.validation.predicates import shared

#: the metric of :class:`ExpectCreditflowRuleToHold`
FAILURES_METRIC = "table.creditflow_rule_failures"
_LOCK = threading.RLock()
#: :meth:`ExpectCreditflowRuleToHold.get_validation_dependencies`, by expectation state, runtime configuration
#: and engine (bounded, oldest out first: a suite per kind and result format)
_DEPENDENCIES: dict[str, tuple[dict[str, tuple[str, dict[str, Any], dict[str, Any]]], dict[str, Any]]] = {}
_KEPT_MAX = 2048


@cache
def _gx_classes() -> Any:
    """Register the custom metric and expectation once (importing GX costs seconds: keep it lazy)."""
    from great_expectations.compatibility import pydantic
    from great_expectations.core.metric_domain_types import MetricDomainTypes
    from great_expectations.execution_engine import PandasExecutionEngine
    from great_expectations.expectations.expectation import BatchExpectation
    from great_expectations.expectations.metrics.metric_provider import metric_value
    from great_expectations.expectations.metrics.table_metric_provider import TableMetricProvider

    class TableCreditflowRuleFailures(TableMetricProvider):
        """Records of the batch and how many of them fail the rule (True in its indicator column ``column``)."""

        metric_name = FAILURES_METRIC
        value_keys = ("column",)

        @metric_value(engine=PandasExecutionEngine)  # type: ignore[untyped-decorator]
        def _pandas(cls, execution_engine: Any, metric_domain_kwargs: dict[str, Any],
                    metric_value_kwargs: dict[str, Any], metrics: dict[str, Any],
                    runtime_configuration: dict[str, Any] | None) -> dict[str, int]:
            batch, _, _ = execution_engine.get_compute_domain(metric_domain_kwargs, domain_type=MetricDomainTypes.TABLE)
            values = batch[metric_value_kwargs["column"]].to_numpy()
            return {"failures": int(np.count_nonzero(values.astype(bool))), "records": len(values)}

    class ExpectCreditflowRuleToHold(BatchExpectation):
        """Every record satisfies the creditflow rule whose failure indicator is ``column``."""

        column: str
        metric_dependencies = (FAILURES_METRIC,)
        success_keys = ("column",)
        args_keys = ("column",)
        _cf_configuration: Any = pydantic.PrivateAttr(default=None)

        @property
        def configuration(self) -> Any:
            """GX's configuration of this expectation, built once per state of the expectation.

            GX rebuilds it (``dict()`` of the model and a new ``ExpectationConfiguration``) each time it is
            read — ≈ 14 reads per expectation per run, ≈ 60 % of a run of the suite. It is a function of the
            model's fields, so it is kept with the fields it was built from and built again when any
            changed (the fields' ``repr`` is the key)."""
            state = repr(self.__dict__)
            cached = self._cf_configuration
            if cached is None or cached[0] != state:
                cached = (state, super().configuration)
                self._cf_configuration = cached
            return cached[1]

        def get_validation_dependencies(self, execution_engine: Any = None,
                                        runtime_configuration: dict[str, Any] | None = None) -> Any:
            """GX's validation dependencies of this expectation (its metric configurations and result format),
            worked out by GX once per state of the expectation, the runtime configuration and the engine.

            GX works them out again for every expectation on every run — its runtime kwargs, the metric's
            kwargs from the registry, the metric configuration's ids (JSON and MD5) — ≈ 40 % of a run of
            the suite (≈ 55 ms of ≈ 140 a penalty day), though they are a function of those three alone.
            Each call gets its own objects: GX fills in a metric configuration's dependencies while it
            builds the run's graph."""
            from great_expectations.validator.metric_configuration import MetricConfiguration
            from great_expectations.validator.validator import ValidationDependencies

            key = f"{self.__dict__!r}|{runtime_configuration!r}|{type(execution_engine).__qualname__}"
            with _LOCK:
                kept = _DEPENDENCIES.get(key)
            if kept is None:
                built = super().get_validation_dependencies(execution_engine=execution_engine,
                                                            runtime_configuration=runtime_configuration)
                kept = ({name: (m.metric_name, dict(m.metric_domain_kwargs), dict(m.metric_value_kwargs))
                         for name, m in built.metric_configurations.items()}, built.result_format)
                with _LOCK:
                    _DEPENDENCIES[key] = kept
                    if len(_DEPENDENCIES) > _KEPT_MAX:
                        _DEPENDENCIES.pop(next(iter(_DEPENDENCIES)))
            metrics, result_format = kept
            return ValidationDependencies(
                metric_configurations={name: MetricConfiguration(metric, copy.deepcopy(domain), copy.deepcopy(value))
                                       for name, (metric, domain, value) in metrics.items()},
                result_format=copy.deepcopy(result_format))

        def _validate(self, metrics: dict[str, Any], runtime_configuration: dict[str, Any] | None = None,
                      execution_engine: Any = None) -> dict[str, Any]:
            counted = metrics[FAILURES_METRIC]
            failures, records = int(counted["failures"]), int(counted["records"])
            return {"success": failures == 0,
                    "result": {"observed_value": failures, "element_count": records, "unexpected_count": failures,
                               "unexpected_percent": 100.0 * failures / records if records else 0.0,
                               "missing_count": 0}}

    return ExpectCreditflowRuleToHold


def _description(rule: Rule, kind: str) -> str:
    name_zh = standard.field_map(kind)[rule.field].name_zh if rule.field in standard.field_map(kind) else rule.field
    level = "错误" if rule.severity == "error" else "提示"
    return f"{name_zh}（{rule.field}）符合规则 {rule.rule_id}（{level}）的记录：不符合数应为 0"


def build_suite(kind: str, as_of: dt.date | None = None) -> Any:
    """The GX suite of ``kind``: one expectation per rule of :func:`rules_for` (rule names do not depend
    on ``as_of``; the reference date only enters the evaluation)."""
    import great_expectations as gx

    expectation = _gx_classes()
    suite = gx.ExpectationSuite(name=f"sgs_{kind}")
    for rule in rules_for(kind, as_of or dt.date(2000, 1, 1)):
        meta = {"rule_id": rule.rule_id, "field": rule.field, "severity": rule.severity, "name": rule.name,
                "check": rule.check}
        suite.add_expectation(expectation(column=rule.name, meta=meta, description=_description(rule, kind)))
    return suite


@cache
def _context() -> Any:
    """One ephemeral GX context per process (runs of one kind may overlap: nothing is shared on disk)."""
    import great_expectations as gx
    from great_expectations.data_context.types.base import ProgressBarsConfig

    ctx = gx.get_context(mode="ephemeral")
    ctx.variables.progress_bars = ProgressBarsConfig(globally=False)
    return ctx


def _validation_definition(kind: str, context: Any = None) -> Any:
    """The validation definition of ``kind`` in ``context`` (default: the process's), built on first use."""
    import great_expectations as gx

    ctx = context if context is not None else _context()
    with _LOCK:
        cached = getattr(ctx, "_creditflow_vds", None)
        if cached is None:
            cached = {}
            ctx._creditflow_vds = cached
        if kind in cached:
            return cached[kind]
        name = f"sgs_{kind}"
        try:
            source = ctx.data_sources.get(name)
        except (KeyError, ValueError):
            source = ctx.data_sources.add_pandas(name=name)
        try:
            asset = source.get_asset("rule_failures")
        except (LookupError, ValueError):
            asset = source.add_dataframe_asset(name="rule_failures")
        try:
            batch_def = asset.get_batch_definition("whole")
        except (KeyError, ValueError):
            batch_def = asset.add_batch_definition_whole_dataframe("whole")
        for store, key in ((ctx.validation_definitions, f"{name}_validation"), (ctx.suites, name)):
            try:
                store.delete(key)
            except Exception:
                pass
        suite = ctx.suites.add(build_suite(kind))
        vd = ctx.validation_definitions.add(gx.ValidationDefinition(name=f"{name}_validation", data=batch_def,
                                                                     suite=suite))
        cached[kind] = vd
        return vd


def _run_suite(vd: Any, failing: pd.DataFrame) -> Any:
    """``vd.run`` without its last step: the validator runs the suite over the batch and the result gets the
    same meta (run id, validation time, validation id, batch parameters), but is not put into the
    context's validation-results store. That store is in memory in the ephemeral context: kept, every
    day of a history load would stay there until the process ends (≈ 80 kB each; 1,100 days of a
    three-year load), and the freshness check and serialisation cost ≈ 50 ms a call. The validate stage
    keeps the result for 数据质量报告 itself (``pipeline/validate.py``)."""
    from great_expectations.core.run_identifier import RunIdentifier
    from great_expectations.core.validation_definition import DATAFRAME_REPLACEMENT_STR
    from great_expectations.validator.v1_validator import Validator

    validator = Validator(batch_definition=vd.batch_definition, batch_parameters={"dataframe": failing},
                          result_format={"result_format": "BASIC"})
    result = validator.validate_expectation_suite(vd.suite)
    run_id = RunIdentifier(run_time=dt.datetime.now(dt.UTC))
    result.meta.update({"validation_id": vd.id, "checkpoint_id": None, "run_id": run_id,
                        "validation_time": run_id.run_time,
                        "batch_parameters": {"dataframe": DATAFRAME_REPLACEMENT_STR}})
    return result


def failure_indicators(frame: pd.DataFrame, rules: list[Rule]) -> pd.DataFrame:
    """One boolean column per rule (named by the rule), True where the record fails it."""
    with shared(frame):
        return pd.DataFrame({rule.name: ~rule_ok(rule, frame).to_numpy(dtype=bool) for rule in rules},
                            index=frame.index)


def validate_gx(df: pd.DataFrame, kind: str, as_of: dt.date, context: Any = None) -> tuple[pd.DataFrame, Any]:
    """Run the GX suite; returns (findings, the GX validation result for 数据质量报告)."""
    frame = prepare(df, kind)
    rules = rules_for(kind, as_of)
    failing = failure_indicators(frame, rules)
    vd = _validation_definition(kind, context)
    with _LOCK:
        result = _run_suite(vd, failing)
    by_name = {r.name: r for r in rules}
    failures = []
    seen: set[str] = set()
    for res in result.results:
        config = res.expectation_config
        assert config is not None
        name = str((config.meta or {}).get("name"))
        error = _raised(res.exception_info)
        if error:
            raise RuntimeError(f"GX expectation {name} failed to run: {error}")
        rule = by_name[name]
        seen.add(name)
        column = failing[rule.name].to_numpy()
        counted = int(res.result.get("unexpected_count", -1))
        if counted != int(column.sum()) or res.success != (counted == 0):
            raise RuntimeError(f"GX counted {counted} failures of {name}, the rule evaluation {int(column.sum())}")
        if counted:
            failures.append((rule, frame.index[column]))
    if seen != set(by_name):
        raise RuntimeError(f"GX suite of {kind} does not cover the rules: {sorted(set(by_name) ^ seen)}")
    return findings(failures, frame), result


#: GX's JSON of each expectation configuration seen, by the configuration's state (bounded: a suite per kind)
_CONFIG_JSON: OrderedDict[str, dict[str, Any]] = OrderedDict()
_CONFIG_JSON_MAX = _KEPT_MAX


def _config_json(config: Any) -> dict[str, Any]:
    """``config.to_json_dict()`` — GX's own — kept per state of the configuration (``repr`` of its fields,
    as :class:`ExpectCreditflowRuleToHold` keeps its configuration): the suite is the same every day, so
    each rule's configuration is serialised once per process, not once per run. A copy is returned."""
    key = f"{type(config).__qualname__}:{config.__dict__!r}"
    with _LOCK:
        kept = _CONFIG_JSON.get(key)
        if kept is None:
            kept = _CONFIG_JSON[key] = config.to_json_dict()
            if len(_CONFIG_JSON) > _CONFIG_JSON_MAX:
                _CONFIG_JSON.popitem(last=False)
        else:
            _CONFIG_JSON.move_to_end(key)
        return copy.deepcopy(kept)


def result_json(result: Any) -> dict[str, Any]:
    """``result.to_json_dict()`` of a GX suite validation result — the same dict, built by GX's own
    serialisers — at about a third of the cost (what 数据质量报告 keeps for every run; ≈ 30 ms a run of the
    penalty suite before, a day of a history load each).

    GX serialises a suite result by deep-copying it whole and dumping every expectation result with its
    configuration through marshmallow. Here the suite's own fields are dumped by GX from a shell with no
    results, each expectation result by GX without its configuration, and each configuration's JSON is
    GX's own, kept per configuration (:func:`_config_json`). ``tests/unit/test_validation.py`` holds it
    equal to ``to_json_dict()`` on real results (passing, failing and raising expectations)."""
    shell = copy.copy(result)
    shell.results = []
    out: dict[str, Any] = shell.to_json_dict()
    rows = []
    for res in result.results:
        config = res.expectation_config
        bare = copy.copy(res)
        bare.expectation_config = None
        row: dict[str, Any] = bare.to_json_dict()
        if config is not None:
            row["expectation_config"] = _config_json(config)
        rows.append(row)
    out["results"] = rows
    return out


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
