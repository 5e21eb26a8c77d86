"""Stage 3 — validate with Great Expectations; findings with Chinese messages; Data Docs."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import pandas as pd
import sqlalchemy as sa

from creditflow.common import mask_text
from creditflow.core import standard
from creditflow.core import warehouse as wh
from creditflow.reporting.pipeline.common import (
    Run,
    log,
)
from creditflow.reporting.pipeline.standardise import load_standardised

# --- 3. validate -------------------------------------------------------------------------------------


def validate(run: Run, engine: sa.Engine, gx_project_dir: Path | None = None) -> dict[str, int]:
    """Stage 3: the GX suite over this run's records; findings (errors quarantine) into ``cf_finding``."""
    from creditflow.reporting import validation as v

    frame = load_standardised(run, engine)
    if frame.empty:
        findings = pd.DataFrame(columns=[*v.ISSUE_COLUMNS, "message_zh"])
    else:
        # Validation runs in an ephemeral GX context: runs of one kind may overlap (a backfill), and a
        # shared file context would race on its suite files. Results go to the Data Docs site under a lock.
        found, result = v.validate_gx(frame[[*standard.codes(run.kind), "_row"]], run.kind, received_on(run, engine))
        findings = v.with_messages(found, run.kind)
        if gx_project_dir is not None:
            _store_data_docs(gx_project_dir, result, run)
    by_row = frame.set_index("_row")["record_id"]
    rows = [{"run_key": run.run_key, "record_id": by_row[f["_row"]], "kind": run.kind, "field": f["field"],
             "rule_id": f["rule_id"],
             "severity": f["severity"], "message_zh": _masked_message(f["message_zh"]),
             "detail": _masked_message(str(f["detail"] or ""))}
            for f in findings.to_dict("records")]
    with engine.begin() as conn:
        # Platform rejections of this run stay: they come from receipts, not from validation.
        conn.execute(wh.findings.delete().where(wh.findings.c.run_key == run.run_key, wh.findings.c.kind == run.kind,
                                                wh.findings.c.rule_id != "PLATFORM_REJECTED"))
        if rows:
            conn.execute(wh.findings.insert(), rows)
    errors = {r["record_id"] for r in rows if r["severity"] == "error"}
    return {"records": len(frame), "findings": len(rows), "records_with_errors": len(errors)}


def received_on(run: Run, engine: sa.Engine) -> dt.date:
    """Reference date for "not in the future": the day the records were received (extracted), never
    earlier than the interval. A backfill of an old interval that picks up today's district files must
    not call today's decisions future ones; re-running never turns a valid record invalid."""
    with engine.connect() as conn:
        latest = conn.execute(sa.select(sa.func.max(wh.staging.c.extracted_at)).where(
            wh.staging.c.run_key == run.run_key, wh.staging.c.kind == run.kind)).scalar()
    if not latest:
        return run.as_of
    from zoneinfo import ZoneInfo

    local = dt.datetime.fromisoformat(latest).astimezone(ZoneInfo("Asia/Shanghai")).date()
    return max(run.as_of, local)


def _masked_message(text: str) -> str:
    """Never keep a full personal ID number in a message a clerk or a log sees."""
    return mask_text(text)


def _gx_context(project_dir: Path, kind: str) -> Any:
    import great_expectations as gx

    path = project_dir / kind
    path.mkdir(parents=True, exist_ok=True)
    return gx.get_context(mode="file", project_root_dir=str(path))


def _store_data_docs(project_dir: Path, result: Any, run: Run) -> None:
    """Keep the validation result and rebuild the GX Data Docs site of this kind (one writer at a time)."""
    import fcntl

    (project_dir / run.kind).mkdir(parents=True, exist_ok=True)
    with open(project_dir / run.kind / ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            _write_data_docs(_gx_context(project_dir, run.kind), result, run)
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


_VALUE_KEYS = ("unexpected_list", "partial_unexpected_list", "partial_unexpected_counts", "unexpected_index_list",
               "partial_unexpected_index_list", "unexpected_index_query", "details")


def scrub_validation_result(result: Any) -> Any:
    """A GX validation result fit for Data Docs (a page people see): counts and percentages only.

    COMPLETE results carry the failing values themselves — for the identifier rules that is a natural
    person's ID number — so every value list is dropped before the result is stored."""
    for res in result.results:
        if isinstance(res.result, dict):
            for key in _VALUE_KEYS:
                res.result.pop(key, None)
    return result


def _write_data_docs(context: Any, result: Any, run: Run) -> None:
    try:
        from great_expectations.data_context.types.resource_identifiers import (
            ExpectationSuiteIdentifier,
            ValidationResultIdentifier,
        )

        run_id = {"run_name": run.run_key.replace("|", "_"), "run_time": run.start.isoformat()}
        from great_expectations.core.run_identifier import RunIdentifier

        rid = ValidationResultIdentifier(ExpectationSuiteIdentifier(f"sgs_{run.kind}"),
                                         RunIdentifier(**run_id), f"sgs_{run.kind}")
        context.validation_results_store.set(rid, scrub_validation_result(result))
        context.build_data_docs()
    except Exception as exc:
        log.warning("could not build GX Data Docs: %s", exc)


