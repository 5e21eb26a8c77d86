"""数据质量报告: the stored Great Expectations validation results, read back for our own pages.

The validate stage writes every run's (scrubbed: counts only) result as JSON to the storage's gx area —
the storage every worker writes (object storage across hosts), so this page lists every worker's runs:
``<gx>/<kind>/gx/uncommitted/validations/sgs_<kind>/<run name>/<run time>/sgs_<kind>.json``
(:func:`creditflow.reporting.pipeline.validate.result_key`; GX's file-store layout, so older results
stay readable) where the run name is the run key with ``|`` → ``_`` (``sgs_penalty_2026-11-03``).
This page is the only data-quality report: GX's Data Docs site (scripts and styles from public CDNs,
which the intranet cannot reach) is no longer built.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any

from creditflow.common import KINDS

_SAFE_NAME = re.compile(r"^[A-Za-z0-9_.:+-]{1,160}$")
_DATE = re.compile(r"(\d{4}-\d{2}-\d{2})$")


@dataclass(frozen=True)
class Check:
    """One expectation of a run: which field and rule, how many values it looked at, how many failed."""

    field: str
    field_zh: str
    rule_id: str
    description: str
    severity: str
    success: bool
    element_count: int | None
    unexpected_count: int | None
    unexpected_percent: float | None
    missing_count: int | None
    error: bool


@dataclass(frozen=True)
class RunResult:
    kind: str
    run_name: str
    data_date: str
    validated_at: str
    success: bool
    evaluated: int
    successful: int
    unsuccessful: int
    success_percent: float | None
    records: int | None
    checks: list[Check] = field(default_factory=list)


def _results_prefix(kind: str) -> str:
    return f"{kind}/gx/uncommitted/validations/sgs_{kind}"


def _latest_file(store: Any, run_prefix: str) -> str | None:
    """The newest result of a run (a re-run of an interval writes another run time)."""
    keys = [e.key for e in store.list_files(run_prefix, recursive=True) if e.key.endswith(".json")
            and e.key[len(run_prefix):].count("/") == 2]
    return sorted(keys)[-1] if keys else None


def _describe(rule_id: str, field_code: str, kind: str) -> tuple[str, str]:
    """(field's Chinese name, the rule's Chinese message) — the catalogue the findings use."""
    from creditflow.core import standard

    names = {f.code: f.name_zh for f in standard.fields(kind)} if kind in standard.KINDS else {}
    try:
        from creditflow.reporting.validation.catalogue import message_zh

        text = message_zh(rule_id, field_code, kind, detail="…", value="…")
    except (KeyError, ImportError, IndexError, ValueError):
        text = rule_id
    return names.get(field_code, field_code), text


def _read(store: Any, key: str, kind: str, run_name: str, with_checks: bool) -> RunResult:
    data = json.loads(store.read_text(key))
    stats = data.get("statistics") or {}
    meta = data.get("meta") or {}
    checks: list[Check] = []
    records = None
    for res in data.get("results") or []:
        cfg = res.get("expectation_config") or {}
        cmeta = cfg.get("meta") or {}
        out = res.get("result") or {}
        if records is None and isinstance(out.get("element_count"), int):
            records = out["element_count"]
        if not with_checks:
            continue
        code = str(cmeta.get("field") or (cfg.get("kwargs") or {}).get("column") or "")
        rule_id = str(cmeta.get("rule_id") or cfg.get("type") or "")
        field_zh, description = _describe(rule_id, code, kind)
        checks.append(Check(
            field=code, field_zh=field_zh, rule_id=rule_id, description=description,
            severity=str(cmeta.get("severity") or ""), success=bool(res.get("success")),
            element_count=out.get("element_count"), unexpected_count=out.get("unexpected_count"),
            unexpected_percent=out.get("unexpected_percent"), missing_count=out.get("missing_count"),
            error=bool((res.get("exception_info") or {}).get("raised_exception"))))
    checks.sort(key=lambda c: (c.success, c.field, c.rule_id))
    date = _DATE.search(run_name)
    return RunResult(
        kind=kind, run_name=run_name, data_date=date.group(1) if date else run_name,
        validated_at=str(meta.get("validation_time") or (meta.get("run_id") or {}).get("run_time") or ""),
        success=bool(data.get("success")), evaluated=int(stats.get("evaluated_expectations") or 0),
        successful=int(stats.get("successful_expectations") or 0),
        unsuccessful=int(stats.get("unsuccessful_expectations") or 0),
        success_percent=stats.get("success_percent"), records=records, checks=checks)


def list_runs(gx_root: Any, kind: str, limit: int = 60) -> list[RunResult]:
    """The latest ``limit`` validated intervals of ``kind``, newest data date first (no per-check rows).
    ``gx_root``: the storage's gx area (a local folder or object storage — where the workers published)."""
    from creditflow.core.storage import as_storage

    store = as_storage(gx_root)
    names = [d for d in store.dirs(_results_prefix(kind)) if _SAFE_NAME.match(d)]
    names.sort(key=lambda d: ((m.group(1) if (m := _DATE.search(d)) else ""), d), reverse=True)
    out = []
    for name in names[:limit]:
        key = _latest_file(store, f"{_results_prefix(kind)}/{name}")
        if key is not None:
            out.append(_read(store, key, kind, name, with_checks=False))
    return out


def load_run(gx_root: Any, kind: str, run_name: str) -> RunResult | None:
    """One run with every check, or None (unknown run, or a name that is not a run directory's)."""
    from creditflow.core.storage import as_storage

    if not _SAFE_NAME.match(run_name) or kind not in KINDS:
        return None
    store = as_storage(gx_root)
    if run_name not in store.dirs(_results_prefix(kind)):
        return None
    key = _latest_file(store, f"{_results_prefix(kind)}/{run_name}")
    return _read(store, key, kind, run_name, with_checks=True) if key else None
