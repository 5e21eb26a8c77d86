"""The 双公示 pipeline, stage by stage, as plain functions over the warehouse (no Airflow here).

Each stage takes a :class:`Run` (kind + data interval) and is a transaction over that run's rows: run it
twice and the second run replaces exactly what the first wrote. The DAG in ``dags/sgs_reporting.py``
calls these in order; tests call them directly.

    extract → standardise → validate → flush_inflight → decide (timeliness, dedup, review) → upload
    → collect_receipts → reconcile

"Nothing lost": every staged record gets exactly one outcome — ``uploaded`` (create/更正/撤销, in this
run), ``quarantined`` (rule findings or platform rejection), ``awaiting_review``, ``unchanged`` (the
platform already holds this content) or ``duplicate`` (of a named record) — and :func:`reconcile`
fails the run when the counts do not add up.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import logging
import shutil
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from decimal import Decimal
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any

import pandas as pd
import sqlalchemy as sa
import yaml

from creditflow import rules, standard
from creditflow import standardise as st
from creditflow import warehouse as wh
from creditflow.identifiers import mask_id, public_key
from creditflow.platform_client import LicensingClient, PlatformClient
from creditflow.submissions import UnreadableSubmission, read_submission
from creditflow.workdays import CalendarNotCovered, official_calendar

log = logging.getLogger(__name__)
SQL_DIR = Path(__file__).resolve().parents[1] / "sql"
OUTCOMES = ("uploaded", "quarantined", "awaiting_review", "unchanged", "duplicate")
SOURCES_OF_KIND = {"penalty": ("case_db", "district_file"), "license": ("licensing_api", "district_file"),
                   "coercion": ("case_db", "district_file")}
SOURCE_FIELDS = {"_SJLY", "_SJLYDM", "_LYDW", "_LYDWDM"}


class ReconciliationError(RuntimeError):
    """Extracted records and outcomes do not add up: something was lost or counted twice."""


@dataclass(frozen=True)
class Run:
    dag_id: str
    kind: str
    start: dt.datetime  # data interval, aware, local time (Asia/Shanghai)
    end: dt.datetime

    @property
    def run_key(self) -> str:
        return f"{self.dag_id}|{self.start.date().isoformat()}"

    @property
    def as_of(self) -> dt.date:
        """Last day of the data (reference for 'not in the future')."""
        return (self.end - dt.timedelta(microseconds=1)).date()

    @property
    def run_date(self) -> dt.date:
        """The day the upload happens on (for lateness): the interval end date."""
        return self.end.date()


@dataclass
class Sources:
    case_db: sa.Engine | None = None
    licensing: LicensingClient | None = None
    inbox: Path | None = None


@dataclass
class Options:
    batch_size: int = 200
    gx_project_dir: Path | None = None  # where GX Data Docs are built (None: ephemeral, no docs)
    data_source_uscc: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)


@cache
def review_policy() -> dict[str, Any]:
    return yaml.safe_load((resources.files("creditflow") / "data" / "rules" / "review_policy.yaml")
                          .read_text(encoding="utf-8"))


@cache
def dedup_config() -> dict[str, Any]:
    return yaml.safe_load((resources.files("creditflow") / "data" / "rules" / "dedup.yaml")
                          .read_text(encoding="utf-8"))


def _json(value: Any) -> str:
    def default(v: Any) -> Any:
        if isinstance(v, (dt.date, dt.datetime)):
            return v.isoformat()
        if isinstance(v, Decimal):
            return str(v)
        return str(v)
    return json.dumps(value, ensure_ascii=False, sort_keys=True, default=default)


# --- 1. extract --------------------------------------------------------------------------------------


def _local_naive(t: dt.datetime) -> dt.datetime:
    """Plain local wall-clock time (the case system stores naive local timestamps; also strips pendulum)."""
    return dt.datetime(t.year, t.month, t.day, t.hour, t.minute, t.second, t.microsecond)


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


def extract_inbox(run: Run, inbox: Path) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """District files of this kind: new ones in the inbox (moved to this interval's archive) plus
    those archived for this interval by an earlier attempt. Unreadable files go to ``rejected/``."""
    day = run.start.date().isoformat()
    archive = inbox / "archive" / run.kind / day
    rejected = inbox / "rejected" / day
    files: list[dict[str, Any]] = []
    if rejected.exists():  # rejected by an earlier attempt of this interval: still this run's to report
        for path in sorted(p for p in rejected.iterdir() if not p.name.endswith(".reason.txt")):
            reason_file = rejected / f"{path.name}.reason.txt"
            reason = reason_file.read_text(encoding="utf-8").strip() if reason_file.exists() else ""
            files.append({"file_name": path.name, "status": "rejected", "rows": 0, "reason": reason,
                          "archived_as": str(path)})
    staged: dict[str, dict[str, Any]] = {}
    candidates = sorted(p for p in inbox.iterdir() if p.is_file() and not p.name.startswith("."))
    archived = sorted(archive.iterdir()) if archive.exists() else []
    for path in [*archived, *candidates]:
        try:
            sub = read_submission(path)
        except UnreadableSubmission as exc:
            if path.parent == inbox and run.kind == "penalty":  # one owner rejects unreadable files
                rejected.mkdir(parents=True, exist_ok=True)
                target = rejected / path.name
                shutil.move(str(path), target)
                (rejected / f"{path.name}.reason.txt").write_text(str(exc) + "\n", encoding="utf-8")
                log.warning("rejected district file %s: %s", path.name, exc)
            files.append({"file_name": path.name, "status": "rejected", "rows": 0, "reason": str(exc),
                          "archived_as": str(rejected / path.name)})
            continue
        if sub.kind != run.kind:
            continue
        if path.parent == inbox:
            archive.mkdir(parents=True, exist_ok=True)
            target = archive / path.name
            shutil.move(str(path), target)
            path = target
        district = _district_code(path.name)
        rows = [{**values, "_lineage": f"{path.name}#row{n}"} for n, values in sub.rows]
        mapped = st.map_source_rows(rows, "district_file", run.kind)
        mapped["lineage"] = [r["_lineage"] for r in rows]
        keyed = st.standardise(mapped, run.kind) if rows else mapped
        for (n, values), nk in zip(sub.rows, keyed["natural_key"] if rows else [], strict=True):
            # Record ids appear in logs and pages: a natural person's ID number in the key is masked.
            source_key = f"{district}:{public_key(nk)}" if nk else f"{path.name}:row{n}"
            staged[source_key] = {"source_system": "district_file", "source_key": source_key,
                                  "lineage": f"{path.name}#row{n}", "raw": values}
        files.append({"file_name": path.name, "status": "ingested", "rows": len(sub.rows), "reason": None,
                      "archived_as": str(path)})
    return list(staged.values()), files


def carried_over(run: Run, engine: sa.Engine) -> list[dict[str, Any]]:
    """Records waiting on a review from earlier runs are taken again (their deadline keeps counting)."""
    r, s = wh.reviews, wh.staging
    with engine.connect() as conn:
        ids = [x[0] for x in conn.execute(
            sa.select(r.c.record_id).where(r.c.kind == run.kind, sa.or_(
                r.c.status == "pending", r.c.applied_run_key.is_(None), r.c.applied_run_key == run.run_key))
            .distinct())]
        out = []
        for chunk in _chunks(ids, 500):
            latest = (sa.select(s.c.record_id, sa.func.max(s.c.interval_start).label("iv"))
                      .where(s.c.record_id.in_(chunk), s.c.kind == run.kind,
                             s.c.interval_start < run.start.isoformat())
                      .group_by(s.c.record_id).subquery())
            rows = conn.execute(sa.select(s).join(latest, sa.and_(s.c.record_id == latest.c.record_id,
                                                                 s.c.interval_start == latest.c.iv))).mappings()
            for row in rows:
                out.append({"source_system": row["source_system"], "source_key": row["source_key"],
                            "lineage": (row["lineage"] or "") + " (待审核，续办)",
                            "raw": json.loads(row["raw_payload"])})
    return out


def extract(run: Run, engine: sa.Engine, sources: Sources) -> dict[str, Any]:
    """Stage 1: land raw rows of every source with lineage in ``cf_staging`` for this run."""
    wh.create_schema(engine)
    records: list[dict[str, Any]] = []
    files: list[dict[str, Any]] = []
    if "case_db" in SOURCES_OF_KIND[run.kind] and run.kind != "license" and sources.case_db is not None:
        records += extract_case_db(run, sources.case_db)
    if run.kind == "license" and sources.licensing is not None:
        records += extract_licensing(run, sources.licensing)
    if sources.inbox is not None and sources.inbox.exists():
        inbox_records, files = extract_inbox(run, sources.inbox)
        records += inbox_records
    fresh = {f"{r['source_system']}:{r['source_key']}" for r in records}
    records += [r for r in carried_over(run, engine) if f"{r['source_system']}:{r['source_key']}" not in fresh]
    now = wh.now_iso()
    rows = {}
    for r in records:
        rid = f"{r['source_system']}:{r['source_key']}"
        rows[rid] = {"run_key": run.run_key, "record_id": rid, "kind": run.kind, "source_system": r["source_system"],
                     "source_key": r["source_key"], "lineage": r["lineage"], "interval_start": run.start.isoformat(),
                     "extracted_at": now, "raw_payload": _json(r["raw"])}
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


# --- 2. standardise ----------------------------------------------------------------------------------


def _body_hash(df: pd.DataFrame, kind: str) -> list[str]:
    p = standard.PREFIX[kind]
    codes = [c for c in standard.codes(kind) if c != f"{p}_WSH" and not any(c.endswith(s) for s in SOURCE_FIELDS)]
    return st.row_hashes(df, codes)


def standardise_frame(staged: pd.DataFrame, kind: str) -> pd.DataFrame:
    """Staged raw rows (columns source_system, source_key, lineage, raw) → standardised frame."""
    frames = []
    for source, group in staged.groupby("source_system", sort=True):
        raws = [json.loads(x) if isinstance(x, str) else x for x in group["raw_payload"]]
        mapped = st.map_source_rows(raws, str(source), kind)
        mapped["source_key"] = group["source_key"].to_numpy()
        mapped["lineage"] = group["lineage"].to_numpy()
        frames.append(mapped)
    if not frames:
        return pd.DataFrame(columns=[*standard.codes(kind), *st.META_COLUMNS, *st.KEY_COLUMNS, "_row"])
    out = st.standardise(pd.concat(frames, ignore_index=True), kind)
    out["body_hash"] = _body_hash(out, kind)
    return out


def _iso_date(value: Any) -> bool:
    try:
        dt.date.fromisoformat(str(value))
        return True
    except ValueError:
        return False


def _due(decision: Any, missing_years: set[int]) -> str | None:
    d = None
    try:
        d = dt.date.fromisoformat(str(decision)) if decision else None
    except ValueError:
        return None
    if d is None:
        return None
    try:
        return rules.sgs_due_date(d).isoformat()
    except CalendarNotCovered as exc:
        missing_years.add(exc.year)
        return None
    except LookupError:
        return None


def standardise(run: Run, engine: sa.Engine, data_source_uscc: str | None = None) -> dict[str, int]:
    """Stage 2: map to the 双公示 fields, normalise, compute keys, hashes and the 7-working-day due date."""
    with engine.connect() as conn:
        staged = pd.read_sql(sa.select(wh.staging).where(wh.staging.c.run_key == run.run_key,
                                                         wh.staging.c.kind == run.kind), conn)
    std = standardise_frame(staged, run.kind)
    p = standard.PREFIX[run.kind]
    if data_source_uscc and len(std):
        code = f"{p}_SJLYDM" if run.kind != "license" else "XK_LYDWDM"
        std[code] = data_source_uscc
    dd = {"penalty": "CF_JDRQ", "license": "XK_JDRQ", "coercion": "QZ_JDRQ"}[run.kind]
    due_cache: dict[Any, str | None] = {}
    missing_years: set[int] = set()
    rows = []
    codes = standard.codes(run.kind)
    for rec in std.to_dict("records"):
        decision = rec.get(dd)
        if decision not in due_cache:
            due_cache[decision] = _due(decision, missing_years)
        rows.append({"run_key": run.run_key, "record_id": rec["record_id"], "kind": run.kind,
                     "source_system": rec["source_system"], "natural_key": rec["natural_key"],
                     "doc_key": rec["doc_key"], "party_key": rec["party_key"],
                     "decision_date": decision if _iso_date(decision) else None, "due_date": due_cache[decision],
                     "source_revoked": bool(rec["source_revoked"]), "content_hash": rec["content_hash"],
                     "body_hash": rec["body_hash"],
                     "payload": _json({c: rec[c] for c in codes if rec.get(c) is not None})})
    with engine.begin() as conn:
        wh.replace_run_rows(conn, wh.standardised, run.run_key, rows, kind=run.kind)
    if missing_years:
        log.warning("no official working-day calendar for %s: due dates unknown for some records; add "
                    "data/calendar/YYYY.yaml (the calendar_watch DAG fails until then)", sorted(missing_years))
    return {"standardised": len(rows), "due_date_unknown_years": len(missing_years)}


def load_standardised(run: Run, engine: sa.Engine) -> pd.DataFrame:
    with engine.connect() as conn:
        meta = pd.read_sql(sa.select(wh.standardised).where(wh.standardised.c.run_key == run.run_key,
                                                            wh.standardised.c.kind == run.kind), conn)
    if meta.empty:
        return pd.DataFrame(columns=[*standard.codes(run.kind), "record_id", "_row"])
    fields = pd.DataFrame([json.loads(x) for x in meta["payload"]])
    for c in standard.codes(run.kind):
        if c not in fields.columns:
            fields[c] = None
    frame = pd.concat([meta.reset_index(drop=True),
                       fields[standard.codes(run.kind)].reset_index(drop=True)], axis=1)
    frame = frame.astype(object)
    frame = frame.where(frame.notna(), None)
    frame["_row"] = range(len(frame))
    return frame


# --- 3. validate -------------------------------------------------------------------------------------


def validate(run: Run, engine: sa.Engine, gx_project_dir: Path | None = None) -> dict[str, int]:
    """Stage 3: the GX suite over this run's records; findings (errors quarantine) into ``cf_finding``."""
    from creditflow import validation as v

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
    import re

    return re.sub(r"\b(\d{6})(\d{8})(\d{3}[\dXx])\b", lambda m: mask_id(m.group(0)), text)


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


# --- 4–6. flush in-flight, decide (timeliness, dedup, review) ----------------------------------------


def _chunks(items: list[Any], n: int) -> Iterable[list[Any]]:
    for i in range(0, len(items), n):
        yield items[i:i + n]


def _ledger_rows(conn: sa.Connection, kind: str, column: sa.Column, keys: list[str],
                 *where: Any) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for chunk in _chunks(sorted(set(k for k in keys if k)), 500):
        out += [dict(r) for r in conn.execute(sa.select(wh.ledger).where(wh.ledger.c.kind == kind,
                                                                          column.in_(chunk), *where)).mappings()]
    return out


def ledger_context(conn: sa.Connection, kind: str, natural_keys: list[str], party_keys: list[str],
                   decision_dates: list[str], window_days: int) -> tuple[dict[str, dict[str, Any]],
                                                                           list[dict[str, Any]]]:
    """What a run needs from the ledger: rows of its natural keys, and — for near duplicates — rows of its
    parties whose decision date is within the window of its own dates. Index lookups only, so the work
    of a daily run does not grow with the size of the ledger."""
    by_nk = {r["natural_key"]: r for r in _ledger_rows(conn, kind, wh.ledger.c.natural_key, natural_keys)}
    dates = sorted(d for d in decision_dates if d)
    if not dates:
        return by_nk, []
    lo = (dt.date.fromisoformat(dates[0]) - dt.timedelta(days=window_days)).isoformat()
    hi = (dt.date.fromisoformat(dates[-1]) + dt.timedelta(days=window_days)).isoformat()
    party = _ledger_rows(conn, kind, wh.ledger.c.party_key, party_keys,
                         wh.ledger.c.decision_date >= lo, wh.ledger.c.decision_date <= hi)
    return by_nk, party


def _review_state(conn: sa.Connection, keys: list[tuple[str, str, str]]) -> dict[tuple[str, str, str], dict[int, str]]:
    out: dict[tuple[str, str, str], dict[int, str]] = defaultdict(dict)
    ids = sorted({k[0] for k in keys})
    d = wh.review_decisions
    for chunk in _chunks(ids, 500):
        for r in conn.execute(sa.select(d).where(d.c.record_id.in_(chunk)).order_by(d.c.id)).mappings():
            out[(r["record_id"], r["content_hash"], r["op"])][int(r["level"])] = r["decision"]
    return out


def _idem(kind: str, nk: str, op: str, h: str) -> str:
    return hashlib.sha256(f"{kind}|{nk}|{op}|{h}".encode()).hexdigest()[:40]


@dataclass
class Decision:
    record_id: str
    outcome: str
    op: str | None = None
    duplicate_of: str | None = None
    review_reason: str | None = None
    related: str | None = None
    detail: str | None = None


def decide(run: Run, engine: sa.Engine, batch_size: int = 200) -> dict[str, int]:
    """Stage 4–6: quarantine, exact and near duplicates, op against the ledger, review gate, due dates.

    Writes this run's outcomes, the review queue and the ledger's pending operations (with their
    batches), all in one transaction.
    """
    from rapidfuzz import fuzz

    frame = load_standardised(run, engine)
    policy = review_policy()["policies"]
    cfg = dedup_config()
    cal = official_calendar()
    with engine.connect() as conn:
        fnd = pd.read_sql(sa.select(wh.findings).where(wh.findings.c.run_key == run.run_key,
                                                       wh.findings.c.kind == run.kind), conn)
    errors = fnd[fnd["severity"] == "error"].groupby("record_id")["rule_id"].apply(
        lambda s: ",".join(sorted(set(s)))).to_dict()
    warned = set(fnd[fnd["severity"] == "warning"]["record_id"])
    decisions: dict[str, Decision] = {}
    recs = {r["record_id"]: r for r in frame.to_dict("records")}

    valid = []
    for rid, r in recs.items():
        if rid in errors:
            decisions[rid] = Decision(rid, "quarantined", detail=errors[rid])
        elif not r["natural_key"]:
            decisions[rid] = Decision(rid, "quarantined", detail="NO_NATURAL_KEY")
        else:
            valid.append(r)
    valid.sort(key=lambda r: (st.precedence(r["source_system"]), r["record_id"]))
    winners: dict[str, dict[str, Any]] = {}
    for r in valid:
        nk = r["natural_key"]
        if nk in winners:
            decisions[r["record_id"]] = Decision(r["record_id"], "duplicate", duplicate_of=winners[nk]["record_id"],
                                                 detail="同一文书号和行政相对人")
        else:
            winners[nk] = r

    with engine.connect() as conn:
        ledger_by_nk, party_rows = ledger_context(
            conn, run.kind, list(winners), [r["party_key"] for r in winners.values()],
            [r["decision_date"] for r in winners.values()], int(cfg["date_window_days"]))
        inflight = [L for L in ledger_by_nk.values() if L["state"] in ("pending", "sent")]
        if inflight:
            raise RuntimeError(f"{len(inflight)} ledger operations still in flight: run flush_inflight first")
    by_party: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for L in party_rows:
        by_party[L["party_key"]].append({"record_id": L["owner_record_id"], "doc_key": L["doc_key"],
                                         "decision_date": L["decision_date"], "body_hash": L["body_hash"],
                                         "natural_key": L["natural_key"]})

    ops: list[tuple[dict[str, Any], str]] = []
    pending_review: list[tuple[dict[str, Any], str, str | None, str | None]] = []
    candidates: list[tuple[dict[str, Any], str, str | None, str | None]] = []  # (record, op, reason, related)
    for nk, r in winners.items():
        rid, h = r["record_id"], r["content_hash"]
        led = ledger_by_nk.get(nk)
        if led is not None and led["owner_record_id"] != rid:
            owner_source = led["owner_record_id"].split(":", 1)[0]
            if st.precedence(owner_source) <= st.precedence(r["source_system"]):
                decisions[rid] = Decision(rid, "duplicate", duplicate_of=led["owner_record_id"],
                                          detail="与已上报记录的文书号和行政相对人相同")
                continue
        status = led["platform_status"] if led else None
        if led is not None and led["state"] == "rejected" and led["pending_hash"] == h:
            decisions[rid] = Decision(rid, "quarantined", detail=f"PLATFORM_REJECTED:{led['code']}")
            continue
        if status == "published":
            assert led is not None
            if r["source_revoked"]:
                op = "withdraw"
            elif led["accepted_hash"] == h:
                sent_here = led["run_key"] == run.run_key and led["state"] == "accepted"
                decisions[rid] = Decision(rid, "uploaded" if sent_here else "unchanged",
                                          op=led["op"] if sent_here else None)
                continue
            else:
                op = "correct"
        elif status == "withdrawn":
            assert led is not None
            if r["source_revoked"]:
                sent_here = led["run_key"] == run.run_key and led["state"] == "accepted"
                decisions[rid] = Decision(rid, "uploaded" if sent_here else "unchanged",
                                          op="withdraw" if sent_here else None)
                continue
            op = "create"
        else:
            if r["source_revoked"]:
                decisions[rid] = Decision(rid, "unchanged", detail="决定已撤销，未曾公示，无需上报")
                continue
            op = "create"
        reason = None
        related = None
        if op == "create":
            near = _near_duplicate(r, by_party.get(r["party_key"], []), cfg, fuzz)
            if near:
                reason, related = "near_duplicate", near
        if reason is None:
            lb = recs[rid].get(f"{standard.PREFIX[run.kind]}_XDR_LB")
            if op == "correct":
                reason = "correction"
            elif op == "withdraw":
                reason = "withdrawal"
            elif lb == "自然人":
                reason = "natural_person"
            else:
                reason = "warnings" if rid in warned else "clean"
        candidates.append((r, op, reason, related))
        if op == "create":  # later records of the same party compare against this one
            by_party[r["party_key"]].append({"record_id": rid, "doc_key": r["doc_key"],
                                             "decision_date": r["decision_date"], "body_hash": r["body_hash"],
                                             "natural_key": nk})

    with engine.connect() as conn:
        states = _review_state(conn, [(r["record_id"], r["content_hash"], op) for r, op, _, _ in candidates])
    for r, op, reason, related in candidates:
        rid = r["record_id"]
        spec = policy[reason]
        required = [int(x) for x in spec["required"]]
        auto = {int(x) for x in spec["auto"]}
        given = states.get((rid, r["content_hash"], op), {})
        if "reject" in given.values():
            decisions[rid] = Decision(rid, "quarantined", review_reason=reason, detail="REVIEW_REJECTED")
        elif "duplicate" in given.values() and related:
            decisions[rid] = Decision(rid, "duplicate", duplicate_of=related, review_reason=reason,
                                      detail="审核确认为重复记录")
        elif all(level in auto or given.get(level) == "approve" for level in required):
            decisions[rid] = Decision(rid, "uploaded", op=op, review_reason=reason, related=related)
            ops.append((r, op))
        else:
            decisions[rid] = Decision(rid, "awaiting_review", op=op, review_reason=reason, related=related)
            pending_review.append((r, op, reason, related))

    # Timeliness on the official calendar.
    out_rows = []
    due_soon_n = 0
    for rid, d in decisions.items():
        r = recs[rid]
        due = r.get("due_date")
        late = due_soon = False
        if due:
            due_d = dt.date.fromisoformat(due)
            first_publication = d.outcome == "uploaded" and d.op == "create"
            waiting = d.outcome in ("awaiting_review", "quarantined")
            if first_publication or waiting:
                late = run.run_date > due_d
            if waiting and not late:
                left = cal.working_days_between(run.run_date, due_d)
                due_soon = 0 <= left <= int(rules.deadline("sgs_due_soon", due_d).amount)
                due_soon_n += due_soon
        out_rows.append({"run_key": run.run_key, "record_id": rid, "kind": run.kind, "outcome": d.outcome, "op": d.op,
                         "natural_key": r.get("natural_key"), "duplicate_of": d.duplicate_of,
                         "review_reason": d.review_reason,
                         "detail": (d.related and f"疑似重复：{d.related}") or d.detail,
                         "due_date": due, "late": late, "due_soon": due_soon})

    now = wh.now_iso()
    with engine.begin() as conn:
        wh.replace_run_rows(conn, wh.outcomes, run.run_key, out_rows, kind=run.kind)
        for r, op, reason, related in pending_review:
            key = {"record_id": r["record_id"], "content_hash": r["content_hash"], "op": op}
            exists = conn.execute(sa.select(wh.reviews.c.status).where(*[wh.reviews.c[k] == v for k, v in key.items()])
                                  ).first()
            if exists is None:
                conn.execute(wh.reviews.update().where(wh.reviews.c.record_id == r["record_id"],
                                                       wh.reviews.c.status == "pending")
                             .values(status="superseded", applied_run_key=run.run_key))
                conn.execute(wh.reviews.insert().values(
                    **key, kind=run.kind, natural_key=r["natural_key"], reason=reason, related_record=related,
                    levels_required=",".join(str(x) for x in policy[reason]["required"]), status="pending",
                    due_date=r.get("due_date"), created_run_key=run.run_key, created_at=now))
        # Reviews this run acted on are closed; older pending versions of the same records are superseded.
        for rid, d in decisions.items():
            if d.outcome in ("awaiting_review",):
                continue
            conn.execute(wh.reviews.update().where(wh.reviews.c.record_id == rid, wh.reviews.c.status == "pending")
                         .values(status="approved" if d.outcome == "uploaded" else "rejected"))
            conn.execute(wh.reviews.update().where(wh.reviews.c.record_id == rid,
                                                   wh.reviews.c.applied_run_key.is_(None))
                         .values(applied_run_key=run.run_key))
        _write_pending(conn, run, ops, ledger_by_nk, now, batch_size)
    counts = {k: sum(1 for d in decisions.values() if d.outcome == k) for k in OUTCOMES}
    counts["due_soon"] = due_soon_n
    counts["ops"] = len(ops)
    return counts


def _near_duplicate(r: dict[str, Any], others: list[dict[str, Any]], cfg: dict[str, Any], fuzz: Any) -> str | None:
    if not r.get("decision_date"):
        return None
    day = dt.date.fromisoformat(r["decision_date"])
    for o in others:
        if o["natural_key"] == r["natural_key"] or not o.get("decision_date") or not o.get("doc_key"):
            continue
        if abs((dt.date.fromisoformat(o["decision_date"]) - day).days) > cfg["date_window_days"]:
            continue
        if cfg.get("same_body") and o.get("body_hash") != r["body_hash"]:
            continue
        if fuzz.ratio(o["doc_key"], r["doc_key"]) >= cfg["doc_similarity"]:
            return str(o["record_id"])
    return None


def _write_pending(conn: sa.Connection, run: Run, ops: list[tuple[dict[str, Any], str]],
                   ledger_by_nk: dict[str, dict[str, Any]], now: str, batch_size: int = 200) -> None:
    """Ledger rows → pending, with deterministic batches (so a resend after a crash is identical)."""
    ops = sorted(ops, key=lambda x: x[0]["natural_key"])
    for batch in _chunks(ops, batch_size):
        keys = [_idem(run.kind, r["natural_key"], op, r["content_hash"]) for r, op in batch]
        batch_key = hashlib.sha256("|".join(keys).encode()).hexdigest()[:40]
        for seq, ((r, op), idem) in enumerate(zip(batch, keys, strict=True)):
            values = {"owner_record_id": r["record_id"], "party_key": r["party_key"], "doc_key": r["doc_key"],
                      "decision_date": r["decision_date"], "body_hash": r["body_hash"], "state": "pending",
                      "op": op, "pending_hash": r["content_hash"], "pending_payload": r["payload"],
                      "idempotency_key": idem, "batch_key": batch_key, "batch_seq": seq, "batch_id": None,
                      "code": None, "message": None, "run_key": run.run_key, "updated_at": now}
            nk = r["natural_key"]
            if nk in ledger_by_nk:
                conn.execute(wh.ledger.update().where(wh.ledger.c.kind == run.kind, wh.ledger.c.natural_key == nk)
                             .values(**values))
            else:
                conn.execute(wh.ledger.insert().values(kind=run.kind, natural_key=nk, **values))
            conn.execute(wh.ledger_history.insert().values(kind=run.kind, natural_key=nk, record_id=r["record_id"],
                                                           op=op, state="pending", content_hash=r["content_hash"],
                                                           run_key=run.run_key, at=now))


# --- 7. upload ---------------------------------------------------------------------------------------


def upload(run: Run, engine: sa.Engine, client: PlatformClient) -> dict[str, int]:
    """Send every pending ledger batch of this kind (any run's), committing the ledger around each."""
    L = wh.ledger
    with engine.connect() as conn:
        pending = [dict(r) for r in conn.execute(sa.select(L).where(L.c.kind == run.kind, L.c.state == "pending")
                                                 .order_by(L.c.batch_key, L.c.batch_seq)).mappings()]
    batches: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for row in pending:
        batches[row["batch_key"]].append(row)
    sent = 0
    for batch_key, rows in batches.items():
        items = [{"op": r["op"], "data": json.loads(r["pending_payload"]),
                  **({"reason": "原行政决定已撤销或变更"} if r["op"] == "withdraw" else {})} for r in rows]
        answer = client.submit_batch(run.kind, items, batch_key)
        now = wh.now_iso()
        with engine.begin() as conn:
            conn.execute(L.update().where(L.c.batch_key == batch_key, L.c.state == "pending")
                         .values(state="sent", batch_id=answer["batch_id"], updated_at=now))
            conn.execute(wh.ledger_history.insert(), [
                {"kind": run.kind, "natural_key": r["natural_key"], "record_id": r["owner_record_id"], "op": r["op"],
                 "state": "sent", "content_hash": r["pending_hash"], "batch_id": answer["batch_id"],
                 "run_key": run.run_key, "at": now} for r in rows])
        sent += len(rows)
        log.info("batch %s: %d %s records sent (platform batch %s%s)", batch_key[:12], len(rows), run.kind,
                 answer["batch_id"], ", replayed" if answer.get("replayed") else "")
    return {"batches": len(batches), "records": sent, "requests": client.stats["requests"],
            "retries": client.stats["retries"]}


def collect_receipts(run: Run, engine: sa.Engine, client: PlatformClient) -> dict[str, int]:
    """Per-record results of sent batches; returns counts incl. ``still_processing`` (0 = done)."""
    L = wh.ledger
    with engine.connect() as conn:
        sent = [dict(r) for r in conn.execute(sa.select(L).where(L.c.kind == run.kind, L.c.state == "sent")
                                              .order_by(L.c.batch_id, L.c.batch_seq)).mappings()]
    by_batch: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for row in sent:
        by_batch[row["batch_id"]].append(row)
    counts = {"accepted": 0, "rejected": 0, "still_processing": 0}
    for batch_id, rows in by_batch.items():
        status = client.batch_status(batch_id)
        if status["status"] != "done":
            counts["still_processing"] += len(rows)
            continue
        receipts = {int(x["seq"]): x for x in status["receipts"]}
        now = wh.now_iso()
        with engine.begin() as conn:
            for row in rows:
                rc = receipts.get(int(row["batch_seq"]))
                if rc is None:
                    raise RuntimeError(f"batch {batch_id} has no receipt for seq {row['batch_seq']}")
                key = (L.c.kind == run.kind) & (L.c.natural_key == row["natural_key"])
                if rc["status"] == "accepted":
                    counts["accepted"] += 1
                    conn.execute(L.update().where(key).values(
                        state="accepted", accepted_hash=row["pending_hash"],
                        platform_status="withdrawn" if row["op"] == "withdraw" else "published",
                        platform_version=rc.get("record_version"), code=rc["code"], message=rc["message"],
                        first_accepted_at=row["first_accepted_at"] or now, updated_at=now))
                else:
                    counts["rejected"] += 1
                    conn.execute(L.update().where(key).values(state="rejected", code=rc["code"],
                                                              message=rc["message"], updated_at=now))
                    _quarantine_rejected(conn, row, rc)
                conn.execute(wh.ledger_history.insert().values(
                    kind=run.kind, natural_key=row["natural_key"], record_id=row["owner_record_id"], op=row["op"],
                    state=rc["status"], content_hash=row["pending_hash"], batch_id=batch_id, code=rc["code"],
                    run_key=row["run_key"], at=now))
    return counts


def _quarantine_rejected(conn: sa.Connection, row: dict[str, Any], rc: dict[str, Any]) -> None:
    """A platform rejection sends the record back to quarantine in the run that sent it."""
    from creditflow.validation import message_zh

    run_key, rid = row["run_key"], row["owner_record_id"]
    conn.execute(wh.outcomes.update().where(wh.outcomes.c.run_key == run_key, wh.outcomes.c.record_id == rid)
                 .values(outcome="quarantined", detail=f"PLATFORM_REJECTED:{rc['code']}"))
    conn.execute(wh.findings.delete().where(wh.findings.c.run_key == run_key, wh.findings.c.record_id == rid,
                                            wh.findings.c.rule_id == "PLATFORM_REJECTED"))
    detail = f"{rc['code']} {rc['message']}"
    conn.execute(wh.findings.insert().values(run_key=run_key, record_id=rid, kind=row["kind"], field="*",
                                             rule_id="PLATFORM_REJECTED",
                                             severity="error", message_zh=message_zh("PLATFORM_REJECTED", "*",
                                                                                     detail=detail),
                                             detail=detail))


def flush_inflight(run: Run, engine: sa.Engine, client: PlatformClient, wait: float = 30.0,
                   poll: float = 0.5) -> dict[str, int]:
    """Before deciding anything: resend batches a crashed run left pending and collect their receipts."""
    import time

    sent = upload(run, engine, client)
    deadline = time.monotonic() + wait
    while True:
        got = collect_receipts(run, engine, client)
        if got["still_processing"] == 0 or time.monotonic() > deadline:
            return {"resent": sent["records"], **got}
        time.sleep(poll)


# --- 8. reconcile ------------------------------------------------------------------------------------


def reconcile(run: Run, engine: sa.Engine, rejected_files: int = 0) -> dict[str, Any]:
    """extracted = uploaded + quarantined + awaiting_review + unchanged + duplicates, record by record."""
    with engine.connect() as conn:
        staged = {r[0] for r in conn.execute(sa.select(wh.staging.c.record_id).where(
            wh.staging.c.run_key == run.run_key, wh.staging.c.kind == run.kind))}
        outs = [dict(r) for r in conn.execute(sa.select(wh.outcomes).where(
            wh.outcomes.c.run_key == run.run_key, wh.outcomes.c.kind == run.kind)).mappings()]
        sent_not_done = conn.execute(sa.select(sa.func.count()).select_from(wh.ledger).where(
            wh.ledger.c.kind == run.kind, wh.ledger.c.run_key == run.run_key,
            wh.ledger.c.state.in_(["pending", "sent"]))).scalar_one()
    counts = {k: sum(1 for o in outs if o["outcome"] == k) for k in OUTCOMES}
    ids = [o["record_id"] for o in outs]
    problems = []
    if len(ids) != len(set(ids)):
        problems.append("some records have more than one outcome")
    missing = staged - set(ids)
    extra = set(ids) - staged
    if missing:
        problems.append(f"{len(missing)} extracted records have no outcome (e.g. {sorted(missing)[0]})")
    if extra:
        problems.append(f"{len(extra)} outcomes for records that were not extracted")
    if sent_not_done:
        problems.append(f"{sent_not_done} uploads of this run have no receipt yet")
    unknown = {o["outcome"] for o in outs} - set(OUTCOMES)
    if unknown:
        problems.append(f"unknown outcomes {sorted(unknown)}")
    total = sum(counts.values())
    summary = {"run_key": run.run_key, "kind": run.kind, "dag_id": run.dag_id,
               "interval_start": run.start.isoformat(), "interval_end": run.end.isoformat(),
               "extracted": len(staged), "uploaded": counts["uploaded"], "quarantined": counts["quarantined"],
               "awaiting_review": counts["awaiting_review"], "unchanged": counts["unchanged"],
               "duplicates": counts["duplicate"], "late": sum(1 for o in outs if o["late"]),
               "due_soon": sum(1 for o in outs if o["due_soon"]), "rejected_files": rejected_files,
               "reconciled": not problems and total == len(staged), "written_at": wh.now_iso()}
    with engine.begin() as conn:
        conn.execute(wh.run_summary.delete().where(wh.run_summary.c.run_key == run.run_key,
                                                   wh.run_summary.c.kind == run.kind))
        conn.execute(wh.run_summary.insert().values(**summary))
    if problems or total != len(staged):
        raise ReconciliationError(f"{run.kind} {run.run_key}: extracted {len(staged)} ≠ outcomes {total}: "
                                  + "; ".join(problems))
    return summary


def due_soon_records(run: Run, engine: sa.Engine) -> list[dict[str, Any]]:
    """Records of this run that are not yet accepted and are due within the alert window (no personal data)."""
    with engine.connect() as conn:
        rows = conn.execute(sa.select(wh.outcomes.c.record_id, wh.outcomes.c.outcome, wh.outcomes.c.due_date,
                                      wh.outcomes.c.review_reason)
                            .where(wh.outcomes.c.run_key == run.run_key, wh.outcomes.c.kind == run.kind,
                                   wh.outcomes.c.due_soon.is_(True))).mappings()
        return [dict(r) for r in rows]


def due_soon_alert(kind: str, run_date: dt.date, records: list[dict[str, Any]]) -> tuple[str, str] | None:
    """临期预警 (subject, HTML body) for records not yet accepted and due within the alert window, or None.

    No personal data: record ids (ID numbers already masked in them), reasons and due dates only.
    """
    if not records:
        return None
    kind_zh = standard.KIND_ZH[kind]
    reasons = {"awaiting_review": "待审核", "quarantined": "问题数据待修正"}
    rows = sorted(records, key=lambda r: (r["due_date"] or "", r["record_id"]))
    subject = f"【临期预警】{kind_zh} {len(rows)} 条记录将于 {rows[0]['due_date']} 前到期，尚未上报"
    lines = "".join(
        f"<tr><td>{public_key(str(r['record_id']))}</td><td>{reasons.get(r['outcome'], r['outcome'])}</td>"
        f"<td>{r.get('review_reason') or ''}</td><td>{r['due_date']}</td></tr>" for r in rows[:200])
    more = f"<p>另有 {len(rows) - 200} 条未列出。</p>" if len(rows) > 200 else ""
    body = (f"<p>截至 {run_date.isoformat()}，以下{kind_zh}记录距“7个工作日内上网公开”的期限不足"
            f"{int(rules.deadline('sgs_due_soon', run_date).amount)}个工作日，尚未被共享平台接收。"
            "请今天完成审核或修正源数据，下一次运行将自动上报。</p>"
            f"<table border='1'><tr><th>记录</th><th>状态</th><th>原因</th><th>截止日期</th></tr>{lines}</table>{more}")
    return subject, body
