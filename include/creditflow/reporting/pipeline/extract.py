"""Stage 1 — extract: case system, licensing API and the district inbox into staging."""

from __future__ import annotations

import datetime as dt
import posixpath
from collections import defaultdict
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from creditflow.common import KIND_LABELS, mask_id, mask_text
from creditflow.core import standard
from creditflow.core import warehouse as wh
from creditflow.core.identifiers import public_key
from creditflow.core.platform_client import LicensingClient
from creditflow.core.storage import Entry, Storage, as_storage
from creditflow.reporting import standardise as st
from creditflow.reporting.pipeline import rerun
from creditflow.reporting.pipeline.common import (
    SOURCES_OF_KIND,
    SQL_DIR,
    Run,
    Sources,
    _chunks,
    _json,
    _local_naive,
    log,
    seal_raw,
)
from creditflow.reporting.submissions import SubmissionIOError, UnreadableSubmission, read_submission

# --- 1. extract --------------------------------------------------------------------------------------


def extract_case_db(run: Run, engine: sa.Engine) -> list[dict[str, Any]]:
    sql_file = {"penalty": "extract_penalty.sql", "coercion": "extract_coercion.sql"}[run.kind]
    sql = wh.read_sql_file(SQL_DIR / "casedb" / sql_file)
    params = {"date_from": dt.date(run.start.year, run.start.month, run.start.day),
              "date_to": dt.date(run.end.year, run.end.month, run.end.day),
              "ts_from": _local_naive(run.start), "ts_to": _local_naive(run.end)}
    with engine.connect() as conn:
        rows = [dict(r) for r in conn.execute(sa.text(sql), params).mappings()]
    key = "decision_id" if run.kind == "penalty" else "measure_id"
    return [{"source_system": "case_db", "source_key": str(r[key]), "lineage": f"case_no={r['case_no']}",
             "raw": r} for r in rows]


def extract_licensing(run: Run, client: LicensingClient) -> list[dict[str, Any]]:
    items = client.licences(run.start.isoformat(), run.end.isoformat())
    return [{"source_system": "licensing_api", "source_key": str(i["id"]), "lineage": f"licence={i['id']}",
             "raw": i} for i in items]


def _district_code(name: str) -> str:
    head = name.split("_", 1)[0]
    return head if head.isdigit() and len(head) == 6 else "000000"


class InboxTransientError(RuntimeError):
    """District files could not be read for a reason outside the files (I/O): the task is retried."""


def _arrived_before(entry: Entry, moment: dt.datetime) -> bool:
    """A file's arrival time is its modification time (what the share or object store reports)."""
    return entry.modified < moment


def _reject(inbox: Storage, key: str, rejected: str, reason: str) -> str:
    """Move a district file to ``rejected`` with its reason next to it; returns where it went. The reason is
    written first: a crash in between leaves the file to be rejected again, never a file without a reason."""
    name = posixpath.basename(key)
    inbox.write_text(f"{rejected}/{name}.reason.txt", reason + "\n")
    target = inbox.move(key, f"{rejected}/{name}")
    log.warning("rejected district file %s: %s", mask_text(name), reason)
    return target


def _inbox_exists(inbox: Storage) -> bool:
    try:
        return inbox.exists()
    except OSError as exc:
        raise InboxTransientError(f"区县报送目录暂时无法访问（{type(exc).__name__}），任务将重试："
                                  f"{mask_text(inbox.url)}") from exc


def extract_inbox(run: Run, inbox: Storage | Path) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """District files of this kind: ``<inbox>/<kind>/`` files that had arrived (by modification time)
    before the run's scheduled start, moved to ``archive/<kind>/<day>/``, plus those archived or rejected
    for this interval by an earlier attempt (a re-run reports exactly what the first attempt saw).

    ``inbox`` is a :class:`~creditflow.core.storage.Storage` (a local folder, S3-compatible object storage
    …) or a local folder. Each kind owns its folder, so no two DAGs race for a file. A file that is not a
    readable submission of this kind goes to ``rejected/<kind>/<day>/`` with a Chinese reason, once. A file
    that cannot be read because of an I/O error (or a listing that fails) stays where it is and the step
    fails after the other files, so Airflow retries it (and alerts a person when the retries run out)
    instead of blaming the district.
    """
    store = as_storage(inbox)
    day = run.start.date().isoformat()
    folder = run.kind
    archive = f"archive/{run.kind}/{day}"
    rejected = f"rejected/{run.kind}/{day}"
    cutoff = run.scheduled_start
    try:
        earlier_rejects = store.list_files(rejected)
        candidates = [e.key for e in store.list_files(folder) if not e.name.startswith(".")
                      and _arrived_before(e, cutoff)]
        archived = [e.key for e in store.list_files(archive) if not e.name.startswith(".")]
    except OSError as exc:
        raise InboxTransientError(f"区县报送目录暂时无法读取（{type(exc).__name__}），任务将重试："
                                  f"{mask_text(store.url)}") from exc
    files: list[dict[str, Any]] = []
    # Rejected by an earlier attempt of this interval: still this run's to report.
    reject_keys = {e.key for e in earlier_rejects}
    for entry in earlier_rejects:
        if entry.name.endswith(".reason.txt") or entry.name.startswith("."):
            continue
        reason_key = f"{entry.key}.reason.txt"
        try:
            reason = store.read_text(reason_key).strip() if reason_key in reject_keys else ""
        except OSError:
            reason = ""
        files.append({"file_name": entry.name, "status": "rejected", "rows": 0, "reason": reason,
                      "archived_as": store.location(entry.key)})
    accepted: list[tuple[str, list[tuple[int, dict[str, Any]]]]] = []
    transient: list[str] = []
    for key in [*archived, *candidates]:
        name = posixpath.basename(key)
        in_folder = posixpath.dirname(key) == folder
        try:
            with store.get_local(key) as local:
                sub = read_submission(local)
            if sub.kind != run.kind:
                raise UnreadableSubmission(f"文件内容是{KIND_LABELS.get(sub.kind, sub.kind)}数据，不是"
                                           f"{KIND_LABELS[run.kind]}数据：请放入对应类别的报送目录（{sub.kind}）")
        except SubmissionIOError as exc:
            transient.append(str(exc))
            continue
        except UnreadableSubmission as exc:
            target = _reject(store, key, rejected, str(exc)) if in_folder else store.location(key)
            files.append({"file_name": name, "status": "rejected", "rows": 0, "reason": str(exc),
                          "archived_as": target})
            continue
        except OSError as exc:  # the file could not be fetched from the storage (gone, unreachable)
            transient.append(f"读取文件时发生I/O错误（{type(exc).__name__}），稍后重试：{name}")
            continue
        if in_folder:
            try:
                location = store.move(key, f"{archive}/{name}")
            except OSError as exc:
                transient.append(f"归档文件时发生I/O错误（{type(exc).__name__}），稍后重试：{name}")
                continue
        else:
            location = store.location(key)
        accepted.append((name, sub.rows))
        files.append({"file_name": name, "status": "ingested", "rows": len(sub.rows), "reason": None,
                      "archived_as": location})
    if transient:
        raise InboxTransientError(f"{len(transient)}个区县报送文件暂时无法读取，任务将重试：" + "；".join(
            mask_text(m) for m in transient))
    return list(stage_file_rows(run.kind, accepted).values()), files


def stage_file_rows(kind: str, accepted: list[tuple[str, list[tuple[int, dict[str, Any]]]]]
                    ) -> dict[str, dict[str, Any]]:
    """The staging rows of the interval's accepted files (name, its numbered rows), in file and row order,
    by source key: ``<district>:<public key>`` of the row's natural key, or ``<file>:row<n>`` without one (each
    such row staged on its own: before, a keyless row beside keyed ones got the key ``<district>:nan``, and
    a second one in the file replaced it). A later row with the same key replaces an earlier one (a district
    that sent a record again).

    The rows of all files are mapped and keyed in one pass (a file's rows do not depend on another's): the
    mapping's fixed cost is paid once per interval, not once per file — ≈ 3 files a day in a loaded year."""
    rows = [{**values, "_lineage": f"{name}#row{n}"} for name, numbered in accepted for n, values in numbered]
    if not rows:
        return {}
    # The clear natural key (the party's own code), masked: the record id stays what it always was.
    keyed = st.natural_keys(st.map_source_rows(rows, "district_file", kind), kind)
    if len(keyed) != len(rows):
        raise AssertionError(f"{len(rows)} file rows, {len(keyed)} keys")
    keys = iter(zip(keyed["natural_key"].tolist(), (keyed[f"{standard.PREFIX[kind]}_XDR_LB"] == "自然人").tolist(),
                    strict=True))
    staged: dict[str, dict[str, Any]] = {}
    for name, numbered in accepted:
        district = _district_code(name)
        for n, values in numbered:
            nk, person = next(keys)
            nk = nk if isinstance(nk, str) and nk else None  # no key: pandas' NaN too (a column of text and gaps)
            # Record ids appear in logs and pages: a natural person's document number in the key is masked —
            # any document (a passport too), the way a resident ID number always was (same id for those).
            if nk and person:
                doc, _, code = str(nk).rpartition("|")
                nk = f"{doc}|{mask_id(code)}"
            source_key = f"{district}:{public_key(nk)}" if nk else f"{name}:row{n}"
            staged[source_key] = {"source_system": "district_file", "source_key": source_key,
                                  "lineage": f"{name}#row{n}", "raw": values}
    return staged


def carried_over(run: Run, engine: sa.Engine) -> list[dict[str, Any]]:
    """Records waiting on a review from earlier runs are taken again (their deadline keeps counting)."""
    r, s, d = wh.reviews, wh.staging, wh.review_decisions
    with engine.connect() as conn:
        # Never a review a later day's run created: a re-run of an older day takes what waited on that day.
        ids = sorted({rid for rid, created in conn.execute(
            sa.select(r.c.record_id, r.c.created_run_key).where(r.c.kind == run.kind, sa.or_(
                r.c.status == "pending", r.c.applied_run_key.is_(None), r.c.applied_run_key == run.run_key)))
            if not rerun.later(created, run)})
        # A near duplicate a reviewer confirmed, whose published twin came from a worse source, replaces
        # that twin in this run: the twin comes along so that its withdrawal has an outcome here too.
        confirmed = conn.execute(
            sa.select(r.c.record_id, r.c.related_record).join(d, sa.and_(
                d.c.record_id == r.c.record_id, d.c.content_hash == r.c.content_hash, d.c.op == r.c.op))
            .where(r.c.kind == run.kind, r.c.reason == "near_duplicate", r.c.related_record.is_not(None),
                   d.c.decision == "duplicate", sa.or_(r.c.status == "pending", r.c.applied_run_key.is_(None),
                                                       r.c.applied_run_key == run.run_key))).all()
        ids += sorted({rel for rid, rel in confirmed
                       if st.precedence(rid.split(":", 1)[0]) < st.precedence(rel.split(":", 1)[0])} - set(ids))
        out = []
        for chunk in _chunks(ids, 500):
            latest = (sa.select(s.c.record_id, sa.func.max(s.c.interval_start).label("iv"))
                      .where(s.c.record_id.in_(chunk), s.c.kind == run.kind,
                             s.c.interval_start < run.start.isoformat())
                      .group_by(s.c.record_id).subquery())
            rows = conn.execute(sa.select(s).join(latest, sa.and_(s.c.record_id == latest.c.record_id,
                                                                 s.c.interval_start == latest.c.iv))
                                .where(s.c.kind == run.kind)).mappings()  # a record id may recur in another kind
            for row in rows:
                out.append({"source_system": row["source_system"], "source_key": row["source_key"],
                            "lineage": carried_lineage(row["lineage"]),
                            "raw_payload": row["raw_payload"]})  # as stored: sealed, and kept as it is
    return out


CARRIED = " (待审核，续办)"


def carried_lineage(lineage: str | None) -> str:
    """The lineage of a record taken again while it waits: where it came from, marked once as carried —
    not once per day it waited (a record that waited a year carried the mark 365 times)."""
    text = lineage or ""
    while text.endswith(CARRIED):
        text = text[:-len(CARRIED)]
    return text + CARRIED


def extract(run: Run, engine: sa.Engine, sources: Sources) -> dict[str, Any]:
    """Stage 1: land raw rows of every source with lineage in ``cf_staging`` for this run."""
    wh.require_current(engine)  # migrations run at deploy time (`creditflow db upgrade`), never here
    records: list[dict[str, Any]] = []
    files: list[dict[str, Any]] = []
    if "case_db" in SOURCES_OF_KIND[run.kind] and run.kind != "license" and sources.case_db is not None:
        records += extract_case_db(run, sources.case_db)
    if run.kind == "license" and sources.licensing is not None:
        records += extract_licensing(run, sources.licensing)
    inbox = as_storage(sources.inbox) if sources.inbox is not None else None
    if inbox is not None and _inbox_exists(inbox):
        inbox_records, files = extract_inbox(run, inbox)
        records += inbox_records
    fresh = {f"{r['source_system']}:{r['source_key']}" for r in records}
    records += [r for r in carried_over(run, engine) if f"{r['source_system']}:{r['source_key']}" not in fresh]
    now = wh.now_iso()
    rows = {}
    for r in records:
        rid = f"{r['source_system']}:{r['source_key']}"
        rows[rid] = {"run_key": run.run_key, "record_id": rid, "kind": run.kind, "source_system": r["source_system"],
                     "source_key": r["source_key"], "lineage": r["lineage"], "interval_start": run.start.isoformat(),
                     "extracted_at": now,
                     "raw_payload": r["raw_payload"] if "raw_payload" in r
                     else _json(seal_raw(r["source_system"], run.kind, r["raw"]))}
    with engine.begin() as conn:
        wh.replace_run_rows(conn, wh.staging, run.run_key, list(rows.values()), kind=run.kind)
        conn.execute(wh.source_files.delete().where(wh.source_files.c.run_key == f"{run.run_key}|{run.kind}"))
        if files:
            conn.execute(wh.source_files.insert(), [{**f, "run_key": f"{run.run_key}|{run.kind}"} for f in files])
    counts: dict[str, Any] = defaultdict(int)
    for row in rows.values():
        counts[row["source_system"]] += 1
    counts["total"] = len(rows)
    counts["rejected_files"] = sum(1 for f in files if f["status"] == "rejected")
    return dict(counts)


