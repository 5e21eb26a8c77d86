"""Stage 3 — validate with Great Expectations; findings with Chinese messages; the result for 数据质量报告."""

from __future__ import annotations

import datetime as dt
import logging
from typing import Any

import pandas as pd
import sqlalchemy as sa

from creditflow.common import TZ, mask_text
from creditflow.core import standard
from creditflow.core import warehouse as wh
from creditflow.reporting.pipeline.common import (
    Run,
    log,
)
from creditflow.reporting.pipeline.standardise import load_standardised

# GX logs ~200 INFO lines of its own registration on import and context creation: keep task logs to
# what an operator reads (its warnings and errors still come through).
logging.getLogger("great_expectations").setLevel(logging.WARNING)


def quiet_gx_logs() -> None:
    """GX sets one of its loggers to INFO when imported (data_context.types.base): undo it after import."""
    import great_expectations.data_context.types.base  # noqa: F401

    for name in ("great_expectations", "great_expectations.data_context.types.base"):
        logging.getLogger(name).setLevel(logging.WARNING)

# --- 3. validate -------------------------------------------------------------------------------------


def validate(run: Run, engine: sa.Engine, gx_project_dir: Any = None) -> dict[str, int]:
    """Stage 3: the GX suite over this run's records; findings (errors quarantine) into ``cf_finding``.

    Also flags every record whose 7-working-day deadline could not be computed (a year without the
    official calendar, no deadline rule in force): a warning finding ``DUE_DATE_UNKNOWN``, counted here,
    alerted by the run (待定, with its reason) while the record is processed and published as usual — never
    silently "no deadline", never a failed run; the dates appear wherever they are read once the calendar is added.
    The GX result (counts only) is kept for 数据质量报告 in ``gx_project_dir`` (the storage's gx area) after
    the findings are committed; a failure to keep it fails this task (Airflow retries it; the stage is
    idempotent)."""
    from creditflow.reporting import validation as v

    frame = load_standardised(run, engine)
    result = None
    if frame.empty:  # nothing to validate: an empty day does not pay GX's import (≈ 5 s CPU per task process)
        findings = pd.DataFrame(columns=[*v.ISSUE_COLUMNS, "message_zh"])
    else:
        quiet_gx_logs()
        # Validation runs in an ephemeral GX context: runs of one kind may overlap (a backfill), and a
        # shared file context would race on its suite files. The result is kept as JSON (_store_result).
        found, result = v.validate_gx(frame[[*standard.codes(run.kind), "_row"]], run.kind, received_on(run, engine))
        findings = v.with_messages(found, run.kind)
    by_row = frame.set_index("_row")["record_id"]
    rows = [{"run_key": run.run_key, "record_id": by_row[f["_row"]], "kind": run.kind, "field": f["field"],
             "rule_id": f["rule_id"],
             "severity": f["severity"], "message_zh": _masked_message(f["message_zh"]),
             "detail": _masked_message(str(f["detail"] or ""))}
            for f in findings.to_dict("records")]
    unknown = due_date_findings(run, frame)
    rows += unknown
    with engine.begin() as conn:
        # Platform rejections of this run stay: they come from receipts, not from validation.
        conn.execute(wh.findings.delete().where(wh.findings.c.run_key == run.run_key, wh.findings.c.kind == run.kind,
                                                wh.findings.c.rule_id != "PLATFORM_REJECTED"))
        if rows:
            conn.execute(wh.findings.insert(), rows)
    if gx_project_dir is not None and result is not None:
        _store_result(gx_project_dir, result, run)
    errors = {r["record_id"] for r in rows if r["severity"] == "error"}
    if unknown:
        log.warning("%s: %d records without a computable deadline (%s)", run.run_key, len(unknown),
                    "; ".join(sorted({r["message_zh"] for r in unknown})))
    return {"records": len(frame), "findings": len(rows), "records_with_errors": len(errors),
            "due_date_unknown": len(unknown)}


def due_date_findings(run: Run, frame: pd.DataFrame) -> list[dict[str, Any]]:
    """``DUE_DATE_UNKNOWN`` warnings for records with a valid decision date but no computable due date."""
    from creditflow.core import duedates

    if frame.empty:
        return []
    field = standard.DECISION_DATE[run.kind]
    out = []
    reasons: dict[str, str | None] = {}
    for rec in frame[frame["due_date"].isna()][["record_id", field]].to_dict("records"):
        value = rec[field]
        try:
            dt.date.fromisoformat(str(value))
        except (TypeError, ValueError):
            continue  # no valid decision date: the date rules already quarantine the record
        if str(value) not in reasons:
            reasons[str(value)] = unknown_due_message(duedates.sgs_due(str(value)))
        message = reasons[str(value)] or "无法计算上网公开期限，须人工跟进"
        out.append({"run_key": run.run_key, "record_id": rec["record_id"], "kind": run.kind, "field": field,
                    "rule_id": DUE_DATE_UNKNOWN, "severity": "warning", "message_zh": message, "detail": str(value)})
    return out


DUE_DATE_UNKNOWN = "DUE_DATE_UNKNOWN"


def unknown_due_message(due: Any) -> str | None:
    """The finding's text for a deadline that cannot be computed (None when it can)."""
    if due.known:
        return None
    if due.missing_year is not None:
        y = due.missing_year
        return (f"上网公开期限待定（{due.reason}）：记录照常处理和上报；补充 data/calendar/{y}.yaml"
                f"（国务院办公厅{y}年部分节假日安排）后期限自动计算，此前须人工跟进")
    return f"上网公开期限待定（{due.reason}），须人工跟进"


def received_on(run: Run, engine: sa.Engine) -> dt.date:
    """Reference date for "not in the future": the day the records were received (extracted), never
    earlier than the interval. A backfill of an old interval that picks up today's district files must
    not call today's decisions future ones; re-running never turns a valid record invalid."""
    with engine.connect() as conn:
        latest = conn.execute(sa.select(sa.func.max(wh.staging.c.extracted_at)).where(
            wh.staging.c.run_key == run.run_key, wh.staging.c.kind == run.kind)).scalar()
    if not latest:
        return run.as_of
    local = dt.datetime.fromisoformat(latest).astimezone(TZ).date()
    return max(run.as_of, local)


def _masked_message(text: str) -> str:
    """Never keep a full personal ID number in a message a clerk or a log sees."""
    return mask_text(text)


def result_key(run: Run) -> str:
    """Where a run's result is kept under the storage's gx area: GX's own file-store layout
    (``<kind>/gx/uncommitted/validations/<suite>/<run name>/<run time>/<suite>.json``), so the results
    the former Data Docs site wrote stay readable by 数据质量报告 (:mod:`creditflow_ui.quality`)."""
    suite = f"sgs_{run.kind}"
    run_time = run.start.astimezone(dt.UTC).strftime("%Y%m%dT%H%M%S.%fZ")
    return f"{run.kind}/gx/uncommitted/validations/{suite}/{run.run_key.replace('|', '_')}/{run_time}/{suite}.json"


def _store_result(gx_root: Any, result: Any, run: Run) -> None:
    """Keep the run's scrubbed result where 数据质量报告 reads it: the storage every worker shares
    (object storage across hosts). One key per run, written atomically — no lock, no local copy, no sync;
    a re-run of the interval replaces its result."""
    import json

    from creditflow.core.storage import as_storage
    from creditflow.reporting.validation.gx import result_json

    try:
        body = json.dumps(result_json(scrub_validation_result(result)), indent=2, sort_keys=True,
                          ensure_ascii=False)
        as_storage(gx_root).write_text(result_key(run), body)
    except Exception as exc:
        raise QualityReportError(f"数据质量报告的校验结果保存失败：{type(exc).__name__}: {mask_text(exc)}") from exc


_VALUE_KEYS = ("unexpected_list", "partial_unexpected_list", "partial_unexpected_counts", "unexpected_index_list",
               "partial_unexpected_index_list", "unexpected_index_query", "details")


def scrub_validation_result(result: Any) -> Any:
    """A GX validation result fit for 数据质量报告 (a page people see): counts and percentages only.

    COMPLETE results carry the failing values themselves — for the identifier rules that is a natural
    person's ID number — so every value list is dropped before the result is stored."""
    for res in result.results:
        if isinstance(res.result, dict):
            for key in _VALUE_KEYS:
                res.result.pop(key, None)
    return result


class QualityReportError(RuntimeError):
    """The result 数据质量报告 shows could not be kept: the validate task fails and is retried."""
