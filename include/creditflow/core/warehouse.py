"""The pipeline's own store: staging, standardised records, findings, outcomes, review, ledger, summaries.

Portable across SQLite (demo) and PostgreSQL (CI, production): SQLAlchemy Core tables; every write of a
stage is a delete-insert keyed on the run key (``dag_id|interval_start``) inside one transaction, so a
re-run of a stage replaces exactly what it wrote before.

The **ledger** holds one row per (kind, natural key): what the platform has accepted (``accepted_hash``,
``platform_status``) and the operation in flight (``state`` pending → sent → accepted | rejected, with
the exact payload and idempotency keys, so that a crash at any instant can be resumed by re-sending the
identical batch).

The schema is versioned (Alembic, ``creditflow.core.migrations``): :func:`upgrade` — or ``creditflow db
upgrade`` — brings a warehouse to the latest revision. The tables below are the model the latest
revision builds; a change to them comes with a new revision (a test checks that both agree).
"""

from __future__ import annotations

import datetime as dt
import json
import os
from collections.abc import Mapping
from typing import Any
from urllib.parse import parse_qsl, quote, unquote, urlsplit

import sqlalchemy as sa

metadata = sa.MetaData()

staging = sa.Table(
    "cf_staging", metadata,
    sa.Column("run_key", sa.String(120), primary_key=True),
    sa.Column("record_id", sa.String(300), primary_key=True),
    sa.Column("kind", sa.String(16), nullable=False),
    sa.Column("source_system", sa.String(32), nullable=False),
    sa.Column("source_key", sa.String(260), nullable=False),
    sa.Column("lineage", sa.Text),
    sa.Column("interval_start", sa.String(32), nullable=False),
    sa.Column("extracted_at", sa.String(40), nullable=False),
    sa.Column("raw_payload", sa.Text, nullable=False),
)
sa.Index("ix_staging_record_kind", staging.c.record_id, staging.c.kind, staging.c.interval_start)  # revision 0013

standardised = sa.Table(
    "cf_std", metadata,
    sa.Column("run_key", sa.String(120), primary_key=True),
    sa.Column("record_id", sa.String(300), primary_key=True),
    sa.Column("kind", sa.String(16), nullable=False),
    sa.Column("source_system", sa.String(32), nullable=False),
    sa.Column("natural_key", sa.String(400)),
    sa.Column("doc_key", sa.String(200)),
    sa.Column("party_key", sa.String(80)),
    sa.Column("decision_date", sa.String(10)),
    sa.Column("due_date", sa.String(10)),
    sa.Column("source_revoked", sa.Boolean, nullable=False, default=False),
    sa.Column("content_hash", sa.String(64), nullable=False),
    sa.Column("body_hash", sa.String(64), nullable=False),
    sa.Column("payload", sa.Text, nullable=False),
)
sa.Index("ix_std_record", standardised.c.record_id, standardised.c.content_hash)

findings = sa.Table(
    "cf_finding", metadata,
    sa.Column("run_key", sa.String(120), primary_key=True),
    sa.Column("record_id", sa.String(300), primary_key=True),
    sa.Column("field", sa.String(40), primary_key=True),
    sa.Column("rule_id", sa.String(40), primary_key=True),
    sa.Column("kind", sa.String(16), nullable=False),
    sa.Column("severity", sa.String(10), nullable=False),
    sa.Column("message_zh", sa.Text, nullable=False),
    sa.Column("detail", sa.Text),
)

outcomes = sa.Table(
    "cf_outcome", metadata,
    sa.Column("run_key", sa.String(120), primary_key=True),
    sa.Column("record_id", sa.String(300), primary_key=True),
    sa.Column("kind", sa.String(16), nullable=False),
    sa.Column("outcome", sa.String(20), nullable=False),  # uploaded|quarantined|awaiting_review|unchanged|duplicate
    sa.Column("op", sa.String(12)),  # create|correct|withdraw for uploaded
    sa.Column("natural_key", sa.String(400)),
    sa.Column("duplicate_of", sa.String(300)),
    sa.Column("review_reason", sa.String(40)),
    sa.Column("detail", sa.Text),
    sa.Column("due_date", sa.String(10)),
    sa.Column("late", sa.Boolean, nullable=False, default=False),
    sa.Column("due_soon", sa.Boolean, nullable=False, default=False),
    sa.Column("decided_at", sa.String(40)),  # when decide wrote it (revision 0020; NULL before)
)

reviews = sa.Table(
    "cf_review", metadata,
    sa.Column("record_id", sa.String(300), primary_key=True),
    sa.Column("content_hash", sa.String(64), primary_key=True),
    sa.Column("op", sa.String(12), primary_key=True),
    sa.Column("kind", sa.String(16), nullable=False),
    sa.Column("natural_key", sa.String(400)),
    sa.Column("reason", sa.String(40), nullable=False),
    sa.Column("related_record", sa.String(300)),
    sa.Column("levels_required", sa.String(20), nullable=False),  # e.g. "1,2"
    sa.Column("status", sa.String(12), nullable=False),  # pending | approved | rejected
    sa.Column("due_date", sa.String(10)),
    sa.Column("created_run_key", sa.String(120), nullable=False),
    sa.Column("created_at", sa.String(40), nullable=False),
    sa.Column("applied_run_key", sa.String(120)),  # the run that acted on the final decision
)

review_decisions = sa.Table(
    "cf_review_decision", metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("record_id", sa.String(300), nullable=False),
    sa.Column("content_hash", sa.String(64), nullable=False),
    sa.Column("op", sa.String(12), nullable=False),
    sa.Column("level", sa.Integer, nullable=False),
    sa.Column("decision", sa.String(12), nullable=False),  # approve | reject | duplicate
    sa.Column("reviewer", sa.String(80), nullable=False),
    sa.Column("comment", sa.Text),
    sa.Column("decided_at", sa.String(40), nullable=False),
    sa.UniqueConstraint("record_id", "content_hash", "op", "level", name="uq_review_level"),
)

ledger = sa.Table(
    "cf_ledger", metadata,
    sa.Column("kind", sa.String(16), primary_key=True),
    sa.Column("natural_key", sa.String(400), primary_key=True),
    sa.Column("owner_record_id", sa.String(300), nullable=False),
    sa.Column("party_key", sa.String(80)),
    sa.Column("doc_key", sa.String(200)),
    sa.Column("decision_date", sa.String(10)),
    sa.Column("body_hash", sa.String(64)),
    sa.Column("accepted_hash", sa.String(64)),
    sa.Column("platform_status", sa.String(12)),  # published | withdrawn | None (never accepted)
    sa.Column("platform_version", sa.Integer),
    sa.Column("state", sa.String(12), nullable=False),  # pending | sent | accepted | rejected
    sa.Column("op", sa.String(12)),
    sa.Column("pending_hash", sa.String(64)),
    sa.Column("pending_payload", sa.Text),
    sa.Column("idempotency_key", sa.String(64)),
    sa.Column("batch_key", sa.String(64)),
    sa.Column("batch_seq", sa.Integer),
    sa.Column("batch_id", sa.String(40)),
    sa.Column("code", sa.String(16)),
    sa.Column("message", sa.Text),  # the platform's text only (revision 0015 moved the meaning to columns)
    sa.Column("run_key", sa.String(120)),
    sa.Column("first_accepted_at", sa.String(40)),
    sa.Column("updated_at", sa.String(40), nullable=False),
    # revision 0015: what the ``credit:`` / ``replaced_by:`` message prefixes carried, and the day
    sa.Column("origin", sa.String(12), nullable=False, server_default="sgs"),  # sgs | credit: who queued it
    sa.Column("replaces_record_id", sa.String(300)),  # a withdrawn copy: the original that replaces it
    sa.Column("reason", sa.Text),  # a credit operation's reason (sent with a withdrawal)
    sa.Column("op_day", sa.String(10)),  # the data day of the run that queued the operation (from run_key)
)
sa.Index("ix_ledger_party", ledger.c.kind, ledger.c.party_key, ledger.c.decision_date)
sa.Index("ix_ledger_state", ledger.c.state)
sa.Index("ix_ledger_batch", ledger.c.batch_key)

ledger_history = sa.Table(
    "cf_ledger_history", metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("kind", sa.String(16), nullable=False),
    sa.Column("natural_key", sa.String(400), nullable=False),
    sa.Column("record_id", sa.String(300)),
    sa.Column("op", sa.String(12)),
    sa.Column("state", sa.String(12), nullable=False),
    sa.Column("content_hash", sa.String(64)),
    sa.Column("batch_id", sa.String(40)),
    sa.Column("code", sa.String(16)),
    sa.Column("run_key", sa.String(120)),
    sa.Column("at", sa.String(40), nullable=False),
)
sa.Index("ix_ledger_history_key", ledger_history.c.natural_key, ledger_history.c.kind, ledger_history.c.at)
sa.Index("ix_ledger_history_run", ledger_history.c.run_key, ledger_history.c.at)
sa.Index("ix_ledger_history_at", ledger_history.c.at)  # revision 0016: the reports' window read by time

run_summary = sa.Table(  # revision 0014: append-only, one row per reconciliation (a re-run keeps the original)
    "cf_run_summary", metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("run_key", sa.String(120), nullable=False),
    sa.Column("kind", sa.String(16), nullable=False),
    sa.Column("dag_id", sa.String(120), nullable=False),
    sa.Column("interval_start", sa.String(32), nullable=False),
    sa.Column("interval_end", sa.String(32), nullable=False),
    sa.Column("extracted", sa.Integer, nullable=False),
    sa.Column("uploaded", sa.Integer, nullable=False),
    sa.Column("quarantined", sa.Integer, nullable=False),
    sa.Column("awaiting_review", sa.Integer, nullable=False),
    sa.Column("unchanged", sa.Integer, nullable=False),
    sa.Column("duplicates", sa.Integer, nullable=False),
    sa.Column("late", sa.Integer, nullable=False),
    sa.Column("due_soon", sa.Integer, nullable=False),
    sa.Column("rejected_files", sa.Integer, nullable=False, default=0),
    sa.Column("reconciled", sa.Boolean, nullable=False),
    sa.Column("written_at", sa.String(40), nullable=False),
)
sa.Index("ix_run_summary_run", run_summary.c.run_key, run_summary.c.kind, run_summary.c.id)

source_files = sa.Table(
    "cf_source_file", metadata,
    sa.Column("run_key", sa.String(120), primary_key=True),
    sa.Column("file_name", sa.String(300), primary_key=True),
    sa.Column("status", sa.String(12), nullable=False),  # ingested | rejected
    sa.Column("rows", sa.Integer),
    sa.Column("reason", sa.Text),
    sa.Column("archived_as", sa.Text),
)


def upgrade(engine_or_url: sa.Engine | str, revision: str = "head") -> tuple[str | None, str]:
    """Bring a warehouse to ``revision`` (default: the latest); returns (revision before, revision after).

    ``before`` is ``None`` for an empty database and ``"legacy"`` for one the old ``create_all`` built
    (stamped at the baseline, rows untouched). See :mod:`creditflow.core.migrations`.
    """
    from creditflow.core import migrations

    if isinstance(engine_or_url, sa.Engine):
        return migrations.upgrade(engine_or_url, revision)
    engine = engine_from_url(engine_or_url)
    try:
        return migrations.upgrade(engine, revision)
    finally:
        engine.dispose()


def require_current(engine: sa.Engine) -> str:
    """The latest revision, or :class:`~creditflow.core.migrations.SchemaError` when the warehouse is not
    there — what a task checks instead of migrating at request time."""
    from creditflow.core import migrations

    with engine.connect() as conn:
        at = migrations.state(conn)
    if at != migrations.head():
        raise migrations.SchemaError(f"warehouse is at {at}, this release needs {migrations.head()}: "
                                     "run `creditflow db upgrade`")
    return at


def create_schema(engine: sa.Engine) -> None:
    """Kept for callers from before migrations: :func:`upgrade` to the latest revision (a no-op when there)."""
    upgrade(engine)


def now_iso() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="seconds")


def replace_run_rows(conn: sa.Connection, table: sa.Table, run_key: str, rows: list[dict[str, Any]],
                     kind: str | None = None, chunk: int = 2000) -> None:
    """Delete what this run wrote to ``table`` (for ``kind``) and insert ``rows``: a stage's transaction."""
    q = table.delete().where(table.c.run_key == run_key)
    if kind is not None and "kind" in table.c:
        q = q.where(table.c.kind == kind)
    conn.execute(q)
    for i in range(0, len(rows), chunk):
        conn.execute(table.insert(), rows[i:i + chunk])


def latest_summaries() -> Any:
    """``cf_run_summary.id IN (…)`` of each run's latest reconciliation: what "the run's summary" is (the
    table keeps every reconciliation — a re-run adds its own and keeps the original)."""
    s = run_summary
    return s.c.id.in_(sa.select(sa.func.max(s.c.id)).group_by(s.c.run_key, s.c.kind))


def engine_from_url(url: str) -> sa.Engine:
    """An engine; for a SQLite file URL the folder is created and WAL mode with a busy timeout is set."""
    kwargs: dict[str, Any] = {"future": True}
    if url.startswith("sqlite:///") and url != "sqlite:///:memory:":
        from pathlib import Path

        Path(url[len("sqlite:///"):]).parent.mkdir(parents=True, exist_ok=True)
    if url.startswith("sqlite"):
        kwargs["connect_args"] = {"timeout": 30}
    engine = sa.create_engine(url, **kwargs)
    if url.startswith("sqlite"):
        @sa.event.listens_for(engine, "connect")
        def _pragma(dbapi_conn: Any, _: Any) -> None:
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA busy_timeout=30000")
            cur.execute("PRAGMA secure_delete=ON")  # deleted or overwritten values zeroed in the file (#19 §3)
            cur.close()
    return engine


def read_sql_file(path: Any) -> str:
    """A SQL file without its comment lines (comments may mention :params, which would bind)."""
    from pathlib import Path

    text = Path(path).read_text(encoding="utf-8")
    return "\n".join(line for line in text.splitlines() if not line.strip().startswith("--"))


# --- Airflow connections without Airflow ----------------------------------------------------------------


def connection_url(conn_type: str | None, host: str | None = None, port: int | None = None,
                   schema: str | None = None, login: str | None = None, password: str | None = None,
                   extra: Mapping[str, Any] | None = None) -> str:
    """The SQLAlchemy URL of an Airflow SQL connection: ``extra.sqlalchemy_url`` when given (the demo's
    SQLite files), else built from the postgres / sqlite connection fields."""
    if extra and extra.get("sqlalchemy_url"):
        return str(extra["sqlalchemy_url"])
    if conn_type in ("postgres", "postgresql"):
        auth = quote(login or "", safe="")
        if password:
            auth += ":" + quote(password, safe="")
        return f"postgresql+psycopg2://{auth}@{host}:{port or 5432}/{schema or ''}"
    if conn_type == "sqlite":
        return f"sqlite:///{host}"
    raise ValueError(f"cannot build a SQLAlchemy URL for a connection of type {conn_type!r}")


def airflow_connection_url(conn_id: str, environ: Mapping[str, str] | None = None) -> str:
    """The SQLAlchemy URL of connection ``conn_id`` as Airflow hands it to its processes: the environment
    variable ``AIRFLOW_CONN_<ID>``, a URI (``postgres://user:pw@host:5432/db``) or JSON (``{"conn_type":
    ..., "extra": {"sqlalchemy_url": ...}}``). Raises ``LookupError`` when unset, ``ValueError`` when unusable."""
    name = f"AIRFLOW_CONN_{conn_id.upper()}"
    value = (os.environ if environ is None else environ).get(name, "").strip()
    if not value:
        raise LookupError(f"connection {conn_id} is not set ({name} is not in the environment)")
    try:
        fields = _parse_json_conn(value) if value.startswith("{") else _parse_uri_conn(value)
    except (ValueError, TypeError) as exc:
        raise ValueError(f"{name} is neither an Airflow connection URI nor its JSON form: {exc}") from None
    return connection_url(**fields)


def _normalize_conn_type(conn_type: str | None) -> str | None:
    if conn_type == "postgresql":
        return "postgres"
    return conn_type.replace("-", "_") if conn_type else conn_type


def _extra(value: Any) -> dict[str, Any]:
    if not value:
        return {}
    extra = json.loads(value) if isinstance(value, str) else value
    if not isinstance(extra, dict):
        raise ValueError("extra is not a JSON object")
    return extra


def _parse_json_conn(value: str) -> dict[str, Any]:
    data = json.loads(value)
    if not isinstance(data, dict):
        raise ValueError("not a JSON object")
    return {"conn_type": _normalize_conn_type(data.get("conn_type")), "host": data.get("host"),
            "port": int(data["port"]) if data.get("port") else None, "schema": data.get("schema"),
            "login": data.get("login"), "password": data.get("password"), "extra": _extra(data.get("extra"))}


def _parse_uri_conn(uri: str) -> dict[str, Any]:
    """Airflow's URI format (``Connection(uri=...)``): ``type://login:password@host:port/schema?extra``."""
    if uri.count("://") not in (1, 2):
        raise ValueError("no scheme")
    with_protocol = uri.count("://") == 2
    conn_type = urlsplit(uri).scheme
    rest = uri.replace(f"{conn_type}://", "" if with_protocol else "//")
    parts = urlsplit(rest)
    host = unquote(parts.hostname or "")
    if "/" in host:
        host = unquote(parts.netloc.rsplit("@", 1)[-1].split(":", 1)[0])
    if host and with_protocol:
        host = f"{parts.scheme}://{host}"
    extra: dict[str, Any] = {}
    if parts.query:
        query = dict(parse_qsl(parts.query, keep_blank_values=True))
        if "__extra__" in query:
            extra = _extra(query["__extra__"])
        else:
            for key, text in query.items():
                try:
                    extra[key] = json.loads(text) if text else text
                except json.JSONDecodeError:
                    extra[key] = text
    return {"conn_type": _normalize_conn_type(conn_type), "host": host or None, "port": parts.port,
            "schema": unquote(parts.path[1:]) or None, "login": unquote(parts.username) if parts.username else None,
            "password": unquote(parts.password) if parts.password else None, "extra": extra}


# ======================================================================================================
# Credit loop (creditflow.credit, revision 0010): 安全生产严重失信主体名单, 信用修复告知书, 诚信审核.
# Dates a clerk reads are ISO dates (``YYYY-MM-DD``), moments ISO timestamps in UTC. Every transition is
# a ``cf_credit_event`` row (who, when, document, basis); publications go through ``cf_ledger`` (kind
# ``dishonest_list``; penalty withdrawals under kind ``penalty``).
# ======================================================================================================

credit_case = sa.Table(
    "cf_credit_case", metadata,
    sa.Column("case_id", sa.String(80), primary_key=True),
    sa.Column("situation_id", sa.String(20), nullable=False),
    sa.Column("party_key", sa.String(80), nullable=False),  # USCC, or the blind index of a natural person's ID
    sa.Column("party_type", sa.String(16), nullable=False),  # 法人及非法人组织 | 个体工商户 | 自然人
    sa.Column("party_name", sa.String(200), nullable=False),  # a natural person's sealed (SM4, core.pii)
    sa.Column("party_code", sa.String(120)),  # a natural person's ID number, sealed; NULL for an organisation
    sa.Column("facts", sa.Text, nullable=False),
    sa.Column("basis", sa.Text, nullable=False),
    sa.Column("source_ref", sa.String(120)),  # the case-system decision or accident it came from
    sa.Column("penalty_id", sa.String(300)),  # the underlying penalty (cf_credit_penalty)
    sa.Column("authority_name", sa.String(200), nullable=False),
    sa.Column("authority_uscc", sa.String(18), nullable=False),
    sa.Column("state", sa.String(20), nullable=False),
    sa.Column("pending_action", sa.String(30)),  # a proposal waiting for approval
    sa.Column("proposed_by", sa.String(80)),
    sa.Column("proposed_at", sa.String(40)),
    sa.Column("proposal", sa.Text),  # JSON: the proposer's note and confirmations
    sa.Column("notice_doc_id", sa.String(80)),
    sa.Column("notice_delivered_on", sa.String(10)),
    sa.Column("objection_until", sa.String(10)),
    sa.Column("decision_doc_id", sa.String(80)),
    sa.Column("decided_on", sa.String(10)),
    sa.Column("list_start", sa.String(10)),
    sa.Column("list_end", sa.String(10)),  # the original end: kept when a revoked removal restores the listing
    sa.Column("publication_due", sa.String(10)),
    sa.Column("published_on", sa.String(10)),
    sa.Column("removed_on", sa.String(10)),
    sa.Column("revisit_due", sa.String(10)),
    sa.Column("natural_key", sa.String(400)),  # cf_ledger key of the publication (kind dishonest_list)
    sa.Column("created_on", sa.String(10), nullable=False),
    sa.Column("updated_at", sa.String(40), nullable=False),
)
sa.Index("ix_credit_case_party", credit_case.c.party_key, credit_case.c.state)
sa.Index("ix_credit_case_state", credit_case.c.state)

credit_event = sa.Table(
    "cf_credit_event", metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("subject_id", sa.String(300), nullable=False),  # case id, penalty id or request id
    sa.Column("action", sa.String(60), nullable=False),
    sa.Column("from_state", sa.String(20)),
    sa.Column("to_state", sa.String(20)),
    sa.Column("actor", sa.String(80), nullable=False),  # Airflow user id, or "system" for the DAGs
    sa.Column("on_date", sa.String(10), nullable=False),  # the date that counts (delivery, decision, …)
    sa.Column("document_id", sa.String(80)),
    sa.Column("basis", sa.Text),
    sa.Column("comment", sa.Text),
    sa.Column("at", sa.String(40), nullable=False),
)
sa.Index("ix_credit_event_subject", credit_event.c.subject_id, credit_event.c.id)

credit_objection = sa.Table(
    "cf_credit_objection", metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("case_id", sa.String(80), nullable=False),
    sa.Column("received_on", sa.String(10), nullable=False),
    sa.Column("content", sa.Text, nullable=False),
    sa.Column("status", sa.String(12), nullable=False),  # pending | upheld | rejected | waived
    sa.Column("recorded_by", sa.String(80), nullable=False),
    sa.Column("resolved_by", sa.String(80)),
    sa.Column("resolved_on", sa.String(10)),
    sa.Column("resolution", sa.Text),
    sa.Column("at", sa.String(40), nullable=False),
)
sa.Index("ix_credit_objection_case", credit_objection.c.case_id)

credit_request = sa.Table(
    "cf_credit_request", metadata,
    sa.Column("request_id", sa.String(80), primary_key=True),
    sa.Column("kind", sa.String(16), nullable=False),  # early_removal | penalty_repair
    sa.Column("subject_id", sa.String(300), nullable=False),  # case id or penalty id
    sa.Column("party_key", sa.String(80), nullable=False),
    sa.Column("received_on", sa.String(10), nullable=False),
    sa.Column("due_on", sa.String(10)),
    sa.Column("evidence", sa.Text),  # JSON, as the applicant gave it (masked)
    sa.Column("checks", sa.Text),  # JSON: each condition, what decided it, result
    sa.Column("status", sa.String(12), nullable=False),  # received | approved | rejected | revoked
    sa.Column("recorded_by", sa.String(80), nullable=False),
    sa.Column("proposed_by", sa.String(80)),  # the officer proposing approve/reject (never the approver)
    sa.Column("proposed_at", sa.String(40)),
    sa.Column("proposal", sa.String(12)),  # approve | reject
    sa.Column("decided_by", sa.String(80)),
    sa.Column("decided_on", sa.String(10)),
    sa.Column("document_id", sa.String(80)),
    sa.Column("revoked_on", sa.String(10)),
    sa.Column("revoke_reason", sa.Text),
    sa.Column("at", sa.String(40), nullable=False),
)
sa.Index("ix_credit_request_subject", credit_request.c.subject_id)

credit_penalty = sa.Table(
    "cf_credit_penalty", metadata,
    sa.Column("penalty_id", sa.String(300), primary_key=True),  # source record id, e.g. case_db:D00000012
    sa.Column("natural_key", sa.String(400)),  # cf_ledger key (kind penalty)
    sa.Column("party_key", sa.String(80), nullable=False),
    sa.Column("party_type", sa.String(16), nullable=False),
    sa.Column("party_name", sa.String(200), nullable=False),  # a natural person's sealed (SM4, core.pii)
    sa.Column("party_code", sa.String(120)),  # a natural person's ID number, sealed; NULL for an organisation
    sa.Column("doc_no", sa.String(128), nullable=False),
    sa.Column("decision_date", sa.String(10), nullable=False),
    sa.Column("categories", sa.String(256), nullable=False),  # 处罚类别, ";"-joined
    sa.Column("fine_yuan", sa.Numeric(18, 2)),
    sa.Column("authority_name", sa.String(200)),
    sa.Column("regime_id", sa.String(30), nullable=False),
    sa.Column("penalty_class", sa.String(30), nullable=False),
    sa.Column("published", sa.Boolean, nullable=False),
    sa.Column("repairable", sa.Boolean, nullable=False),
    sa.Column("publicity_min_until", sa.String(10)),
    sa.Column("publicity_max_until", sa.String(10), nullable=False),
    sa.Column("earliest_repair", sa.String(10)),
    sa.Column("status", sa.String(16), nullable=False),  # publicising | not_published | ended | repaired | revoked
    sa.Column("source_status", sa.String(12)),  # VALID | CHANGED | REVOKED in the case system
    sa.Column("notice_doc_id", sa.String(80)),
    sa.Column("notice_delivered_on", sa.String(10)),
    sa.Column("ended_on", sa.String(10)),
    sa.Column("repaired_on", sa.String(10)),
    sa.Column("updated_at", sa.String(40), nullable=False),
)
sa.Index("ix_credit_penalty_party", credit_penalty.c.party_key, credit_penalty.c.decision_date)
sa.Index("ix_credit_penalty_status", credit_penalty.c.status, credit_penalty.c.publicity_max_until)

credit_document = sa.Table(
    "cf_credit_document", metadata,
    sa.Column("doc_id", sa.String(80), primary_key=True),
    sa.Column("doc_type", sa.String(30), nullable=False),  # list_notice | list_decision | repair_notice | …
    sa.Column("doc_no", sa.String(80), nullable=False, unique=True),
    sa.Column("subject_id", sa.String(300), nullable=False),
    sa.Column("issued_on", sa.String(10), nullable=False),
    sa.Column("content", sa.Text, nullable=False),  # JSON the DOCX/PDF are rendered from (ID numbers masked)
    sa.Column("sha256", sa.String(64), nullable=False),
    sa.Column("delivered_on", sa.String(10)),
    sa.Column("delivery_method", sa.String(40)),
    sa.Column("delivered_by", sa.String(80)),
    sa.Column("created_at", sa.String(40), nullable=False),
)
sa.Index("ix_credit_document_subject", credit_document.c.subject_id)

credit_check_log = sa.Table(
    "cf_credit_check_log", metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("at", sa.String(40), nullable=False),
    sa.Column("asked_by", sa.String(80), nullable=False),
    sa.Column("channel", sa.String(12), nullable=False),  # api | page | cli | batch
    sa.Column("purpose", sa.String(20), nullable=False),
    sa.Column("query", sa.String(80), nullable=False),  # the code asked about, masked when an ID number
    sa.Column("valid", sa.Boolean, nullable=False),
    sa.Column("verdict", sa.String(8)),  # pass | fail | None for an invalid code
    sa.Column("answer", sa.Text, nullable=False),  # JSON (masked)
)
sa.Index("ix_credit_check_at", credit_check_log.c.at)

# Machine clients of 诚信审核 (revision 0017; creditflow.credit.clients): the secret's SHA-256, never the secret.
api_client = sa.Table(
    "cf_api_client", metadata,
    sa.Column("client_id", sa.String(32), primary_key=True),
    sa.Column("name_zh", sa.String(100), nullable=False),  # the calling system, e.g. 珠海市行政许可审批系统
    sa.Column("scope", sa.String(20), nullable=False),  # integrity (the only scope)
    sa.Column("rate_limit", sa.String(40), nullable=False),  # limits notation, e.g. 600/minute
    sa.Column("secret_hash", sa.String(64), nullable=False),
    sa.Column("previous_hash", sa.String(64)),  # the secret before the last rotation, valid until …
    sa.Column("previous_valid_until", sa.String(40)),
    sa.Column("created_at", sa.String(40), nullable=False),
    sa.Column("created_by", sa.String(80), nullable=False),
    sa.Column("rotated_at", sa.String(40)),
    sa.Column("rotated_by", sa.String(80)),
    sa.Column("revoked_at", sa.String(40)),
    sa.Column("revoked_by", sa.String(80)),
)

CREDIT_TABLES = (credit_case, credit_event, credit_objection, credit_request, credit_penalty, credit_document,
                 credit_check_log)
