"""Stage 3 — validate with Great Expectations; findings with Chinese messages; Data Docs."""

from __future__ import annotations

import datetime as dt
import logging
from pathlib import Path
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


def validate(run: Run, engine: sa.Engine, gx_project_dir: Any = None, data_docs_index: bool = True) -> dict[str, int]:
    """Stage 3: the GX suite over this run's records; findings (errors quarantine) into ``cf_finding``.

    Also flags every record whose 7-working-day deadline could not be computed (a year without the
    official calendar, no deadline rule in force): a warning finding ``DUE_DATE_UNKNOWN``, counted here,
    alerted by the run (待定, with its reason) while the record is processed and published as usual — never
    silently "no deadline", never a failed run; the dates appear wherever they are read once the calendar is added.
    Data Docs are written after the findings are committed; a failure to write them fails this task
    (Airflow retries it; the stage is idempotent). ``data_docs_index=False`` renders this run's page but
    leaves the site's index to :func:`rebuild_data_docs_index` (a history load builds it once, at its end)."""
    from creditflow.reporting import validation as v

    frame = load_standardised(run, engine)
    result = None
    if frame.empty:  # nothing to validate: an empty day does not pay GX's import (≈ 5 s CPU per task process)
        findings = pd.DataFrame(columns=[*v.ISSUE_COLUMNS, "message_zh"])
    else:
        quiet_gx_logs()
        # Validation runs in an ephemeral GX context: runs of one kind may overlap (a backfill), and a
        # shared file context would race on its suite files. Results go to the Data Docs site under a lock.
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
        _store_data_docs(gx_project_dir, result, run, engine, build_index=data_docs_index)
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


#: The Data Docs index lists the latest results only: it reads every result it lists on each build,
#: and three years of daily runs would make each run's build read a thousand files.
DATA_DOCS_INDEX_LIMIT = 90
_FILE_CONTEXTS: dict[str, Any] = {}


def _gx_context(project_dir: Path, kind: str) -> Any:
    """The file GX project of ``kind`` (results + Data Docs), opened once per process. Writers of one kind
    take the lock of :func:`_store_data_docs`; the stores are files, so several processes share them."""
    import great_expectations as gx

    path = project_dir / kind
    key = str(path.resolve())
    if key not in _FILE_CONTEXTS:
        path.mkdir(parents=True, exist_ok=True)
        context = gx.get_context(mode="file", project_root_dir=str(path))
        for site in (context.variables.data_docs_sites or {}).values():
            site.setdefault("site_index_builder", {"class_name": "DefaultSiteIndexBuilder"})
            site["site_index_builder"]["validation_results_limit"] = DATA_DOCS_INDEX_LIMIT
        _FILE_CONTEXTS[key] = context
    return _FILE_CONTEXTS[key]


def _store_data_docs(project_dir: Any, result: Any, run: Run, engine: sa.Engine, build_index: bool = True) -> None:
    """Keep the validation result and add its page to the GX Data Docs site of this kind (one writer at a
    time): only the new result is rendered, then — unless ``build_index`` is False — the index (latest
    :data:`DATA_DOCS_INDEX_LIMIT` runs; building it reads each of them, ≈ 0.5 s)."""
    _with_site(project_dir, run.kind, engine, lambda context: _write_data_docs(context, result, run, build_index),
               fetch_results=build_index)


def rebuild_data_docs_index(project_dir: Any, kind: str, engine: sa.Engine) -> bool:
    """Build the site's index of ``kind`` once (with the newest result's page): what a history load does
    after its days rendered their pages without it. False when the site holds no result yet."""
    built: list[bool] = []

    def write(context: Any) -> None:
        try:
            keys = context.validation_results_store.list_keys()
            if keys:
                newest = max(keys, key=lambda k: k.run_id.run_time)
                context.build_data_docs(resource_identifiers=[newest])
                built.append(True)
        except Exception as exc:
            raise DataDocsError(f"数据质量报告（GX Data Docs）索引生成失败：{type(exc).__name__}: "
                                f"{mask_text(exc)}") from exc

    _with_site(project_dir, kind, engine, write, fetch_results=True)
    return bool(built)


def _with_site(project_dir: Any, kind: str, engine: sa.Engine, write: Any, fetch_results: bool = False) -> None:
    """Run ``write(context)`` on the file GX project of ``kind`` under the site's lock.

    One writer per kind across every worker and host: a database lock (``core/locks.py``), not a file
    lock. ``project_dir`` is a local folder or a :class:`~creditflow.core.storage.Storage`; GX's file
    project needs a local folder, so on object storage it is kept in a local working copy and the files
    this write created or changed are published to the storage (results and pages; nothing is deleted).
    ``fetch_results``: before writing, the working copy first takes every stored result and result page it
    lacks (other workers wrote them): GX's index lists the pages of the site, so an index built here then
    lists the site's runs, not only this worker's."""
    import time

    from creditflow.core.locks import db_lock
    from creditflow.core.storage import Storage

    store = project_dir if isinstance(project_dir, Storage) else None
    local = store.local_path() if store is not None else Path(project_dir)
    published = local is None
    if local is None:
        import hashlib
        import tempfile

        assert store is not None
        local = Path(tempfile.gettempdir()) / "creditflow-gx" / hashlib.sha256(store.url.encode()).hexdigest()[:16]
    (local / kind).mkdir(parents=True, exist_ok=True)
    with db_lock(engine, f"gx:{kind}"):
        if published and fetch_results and store is not None:
            try:
                for entry in store.list_files(kind, recursive=True):
                    target = local / entry.key
                    if "/validations/" in f"/{entry.key}" and not target.exists():  # results and their pages
                        target.parent.mkdir(parents=True, exist_ok=True)
                        target.write_bytes(store.read_bytes(entry.key))
            except Exception as exc:
                raise DataDocsError(f"数据质量报告（GX Data Docs）读取已发布的结果失败：{type(exc).__name__}: "
                                    f"{mask_text(exc)}") from exc
        started = time.time() - 1
        write(_gx_context(local, kind))
        if published and store is not None:
            try:
                for path in sorted(p for p in (local / kind).rglob("*") if p.is_file()):
                    if path.stat().st_mtime >= started:
                        store.put_file(path, path.relative_to(local).as_posix())
            except Exception as exc:
                raise DataDocsError(f"数据质量报告（GX Data Docs）发布到存储失败：{type(exc).__name__}: "
                                    f"{mask_text(exc)}") from exc


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


class DataDocsError(RuntimeError):
    """The data-quality report could not be written: the validate task fails and is retried."""


def _write_data_docs(context: Any, result: Any, run: Run, build_index: bool = True) -> None:
    try:
        from great_expectations.core.run_identifier import RunIdentifier
        from great_expectations.data_context.types.resource_identifiers import (
            ExpectationSuiteIdentifier,
            ValidationResultIdentifier,
        )

        run_id = {"run_name": run.run_key.replace("|", "_"), "run_time": run.start.isoformat()}
        rid = ValidationResultIdentifier(ExpectationSuiteIdentifier(f"sgs_{run.kind}"),
                                         RunIdentifier(**run_id), f"sgs_{run.kind}")
        context.validation_results_store.set(rid, scrub_validation_result(result))
        context.build_data_docs(resource_identifiers=[rid], build_index=build_index)
    except Exception as exc:
        raise DataDocsError(f"数据质量报告（GX Data Docs）写入失败：{type(exc).__name__}: {mask_text(exc)}") from exc
