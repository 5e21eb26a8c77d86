"""Versioned migrations of the warehouse (Alembic), run from the installed package — no ``alembic.ini``.

The ledger is the record of what the bureau has published, so the schema only ever moves forward
through the revisions in ``versions/`` (``0001`` is the baseline: the schema ``create_all`` used to
build). :func:`upgrade` is what ``creditflow db upgrade``, the demo, the deployment's init step and the
tests run:

- a warehouse already at the target is left alone (one read of the version table);
- an empty database gets every revision;
- a warehouse built by the old ``create_all`` (creditflow tables, no version table) is checked against
  the baseline, stamped ``0001`` without touching a row, then upgraded;
- everything happens in one transaction under a lock (PostgreSQL advisory lock; SQLite ``BEGIN
  IMMEDIATE``), so concurrent callers wait and then find the work done.

The version table is ``cf_alembic_version``, not Alembic's default, so that a warehouse sharing a
database with Airflow's metadata (which has its own ``alembic_version``) cannot be confused with it.

A new revision: change the tables in ``creditflow.core.warehouse``, then write
``versions/NNNN_what.py`` (``alembic.command.revision(migrations.config(), "what", rev_id="NNNN",
autogenerate=True)`` with ``config(connection)`` of a warehouse at head drafts it); on SQLite every ALTER
goes through ``op.batch_alter_table``. ``tests/unit/test_migrations.py`` checks that the model and the
revisions agree.
"""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Any

import sqlalchemy as sa

SCRIPT_LOCATION = Path(__file__).resolve().parent
VERSION_TABLE = "cf_alembic_version"
BASELINE = "0001"
_PG_LOCK_KEY = 0x6366_7768  # "cfwh": one advisory lock for every migration of a warehouse database


class SchemaError(RuntimeError):
    """The warehouse is in a state no migration should touch (newer than this code, or an unknown shape)."""


def config(connection: sa.Connection | None = None, url: str | None = None) -> Any:
    """An Alembic ``Config`` pointing into this package; ``connection`` is what ``env.py`` migrates."""
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(SCRIPT_LOCATION))
    cfg.set_main_option("path_separator", "os")
    if url is not None:
        cfg.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    cfg.attributes["connection"] = connection
    return cfg


@functools.cache
def _script() -> Any:
    from alembic.script import ScriptDirectory

    return ScriptDirectory.from_config(config())


def revisions() -> list[tuple[str, str]]:
    """``(revision, first line of its docstring)``, oldest first."""
    out = []
    for script in _script().walk_revisions():
        doc = (script.module.__doc__ or "").strip().splitlines()
        out.append((str(script.revision), doc[0] if doc else ""))
    return out[::-1]


def head() -> str:
    return str(_script().get_current_head())


def current(conn: sa.Connection) -> str | None:
    """The revision the warehouse is at; ``None`` when it has no version table (empty, or legacy)."""
    from alembic.runtime.migration import MigrationContext

    if not sa.inspect(conn).has_table(VERSION_TABLE):
        return None
    ctx = MigrationContext.configure(conn, opts={"version_table": VERSION_TABLE})
    rev = ctx.get_current_revision()
    return str(rev) if rev is not None else None


def state(conn: sa.Connection) -> str:
    """``current`` in words: a revision, ``"empty"`` or ``"legacy"`` (create_all schema, no version)."""
    rev = current(conn)
    if rev is not None:
        return rev
    return "legacy" if _legacy_tables(conn) else "empty"


def _order(rev: str) -> int:
    known = [r for r, _ in revisions()]
    if rev not in known:
        raise SchemaError(f"warehouse is at revision {rev}, which this creditflow does not know "
                          f"(known: {', '.join(known)}); was it upgraded by a newer release?")
    return known.index(rev)


def _target(revision: str) -> str:
    if revision == "head":
        return head()
    known = [r for r, _ in revisions()]
    if revision not in known:
        raise ValueError(f"no revision {revision!r}; known: {', '.join(known)}")
    return revision


def upgrade(engine: sa.Engine, revision: str = "head") -> tuple[str | None, str]:
    """Bring the warehouse to ``revision`` (default the latest); returns (revision before, revision after).

    Never downgrades: a warehouse already past ``revision`` raises :class:`SchemaError`.
    """
    target = _target(revision)
    with engine.connect() as conn:
        before = current(conn)
    if before == target:
        return before, target
    with engine.begin() as conn:
        _lock(conn)
        before = current(conn)  # again, under the lock: another process may have done it meanwhile
        at: str | None
        if before is None and _legacy_tables(conn):
            _adopt_legacy(conn)
            before = "legacy"
            at = BASELINE
        else:
            at = before
        if at is not None and _order(at) > _order(target):
            raise SchemaError(f"warehouse is at revision {at}, past {target}: creditflow never downgrades")
        if at != target:
            from alembic import command

            command.upgrade(config(conn), target)
    if _crossed(before, target, "0018") and engine.dialect.name == "sqlite":
        _compact_sqlite(engine)
    return before, target


def _crossed(before: str | None, target: str, revision: str) -> bool:
    """Whether an upgrade from ``before`` to ``target`` ran ``revision`` on existing rows."""
    known = [r for r, _ in revisions()]
    if revision not in known or before is None:  # an empty warehouse: nothing was in clear
        return False
    start = known.index(BASELINE) if before == "legacy" else known.index(str(before))
    return start < known.index(revision) <= known.index(target)


def _compact_sqlite(engine: sa.Engine) -> None:
    """After revision 0018 sealed the personal values in place: the WAL is written back and emptied, so the
    file holds only the new pages — the old values were zeroed as they were overwritten (``secure_delete``,
    set on every warehouse connection by :func:`creditflow.core.warehouse.engine_from_url`) — #19 §3, an
    auditor reads the file's bytes. PostgreSQL keeps old row versions in its data files until ``VACUUM``
    (README)."""
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")


def _lock(conn: sa.Connection) -> None:
    if conn.dialect.name == "postgresql":
        conn.exec_driver_sql(f"SELECT pg_advisory_xact_lock({_PG_LOCK_KEY})")
    elif conn.dialect.name == "sqlite":
        conn.exec_driver_sql("BEGIN IMMEDIATE")


# --- the warehouse create_all built (no version table) ------------------------------------------------


@functools.cache
def _baseline_shape() -> dict[str, Any]:
    """Tables, columns, indexes and unique constraints of revision 0001, read off a scratch database."""
    from alembic import command

    scratch = sa.create_engine("sqlite://")
    with scratch.begin() as conn:
        command.upgrade(config(conn), BASELINE)
        insp = sa.inspect(conn)
        tables = [t for t in insp.get_table_names() if t != VERSION_TABLE]
        shape = {
            "columns": {t: {c["name"] for c in insp.get_columns(t)} for t in tables},
            "indexes": {t: {ix["name"]: list(ix["column_names"]) for ix in insp.get_indexes(t)} for t in tables},
            "uniques": {t: {tuple(u["column_names"]) for u in insp.get_unique_constraints(t)} for t in tables},
        }
    scratch.dispose()
    return shape


def _legacy_tables(conn: sa.Connection) -> set[str]:
    return set(sa.inspect(conn).get_table_names()) & set(_baseline_shape()["columns"])


def _adopt_legacy(conn: sa.Connection) -> None:
    """Check a create_all warehouse against the baseline and stamp it 0001. Rows are never touched; an
    index of an older shape (``ix_ledger_party`` before it covered ``decision_date``) is rebuilt."""
    from alembic import command

    shape = _baseline_shape()
    insp = sa.inspect(conn)
    present = set(insp.get_table_names())
    missing = [t for t in shape["columns"] if t not in present]
    for table, columns in shape["columns"].items():
        if table in present:
            have_columns = {c["name"] for c in insp.get_columns(table)}
            missing += [f"{table}.{c}" for c in sorted(columns - have_columns)]
            have_uniques = {tuple(map(str, u["column_names"])) for u in insp.get_unique_constraints(table)}
            have_uniques |= {tuple(map(str, ix["column_names"])) for ix in insp.get_indexes(table) if ix.get("unique")}
            missing += [f"{table} unique {','.join(u)}" for u in sorted(shape["uniques"][table] - have_uniques)]
    if missing:
        raise SchemaError("warehouse has creditflow tables but no version table, and they are not the 0001 "
                          f"baseline (missing: {', '.join(missing)}); left untouched")
    for table, indexes in shape["indexes"].items():
        have_indexes = {ix["name"]: list(map(str, ix["column_names"])) for ix in insp.get_indexes(table)}
        for name, columns in indexes.items():
            if have_indexes.get(name) == columns:
                continue
            t = sa.Table(table, sa.MetaData(), autoload_with=conn)
            if name in have_indexes:
                sa.Index(name, *[t.c[c] for c in have_indexes[name]]).drop(conn)
            sa.Index(name, *[t.c[c] for c in columns]).create(conn)
    command.stamp(config(conn), BASELINE)
