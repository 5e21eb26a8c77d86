"""Named locks in the warehouse database — the coordination every worker shares.

A file lock (``fcntl.flock``) only coordinates processes on one host with one disk; Celery workers on
other hosts do not see it. :func:`db_lock` takes the lock in the database instead:

* **PostgreSQL** — ``pg_advisory_xact_lock(key)`` in a transaction on a connection of its own, ``key`` a
  stable 64-bit hash of the name. Locks of different names do not block each other; the lock goes with
  the transaction, so a worker that dies (SIGKILL, lost host) releases it when its session ends. Advisory
  locks are per database: two warehouses in one database (different schemas) share the names.
* **SQLite** (the demo, one host) — ``BEGIN IMMEDIATE`` on a connection of its own: the database's write
  lock, taken by one process at a time and released by the operating system if the holder dies. It is
  not per name: while it is held, no other connection writes the warehouse (they wait, up to their busy
  timeout). Keep the locked work short, and inside it write the warehouse through the connection the
  context manager yields, never through another one (that would wait for itself).

No table is needed on either, so the lock needs no migration.

:func:`work_lock` is for long work that must not run twice at once but writes through other connections
(a whole data interval): the advisory lock on PostgreSQL, and on SQLite — where the database's write lock
would stop that work's own writes — an operating-system file lock next to the database file (one host),
taken with the ``filelock`` package.
"""

from __future__ import annotations

import contextlib
import hashlib
import time
from collections.abc import Iterator
from pathlib import Path

import filelock
import sqlalchemy as sa

__all__ = ["LockTimeout", "db_lock", "lock_key", "work_lock"]


class LockTimeout(TimeoutError):
    """The lock was not free within the timeout."""


def lock_key(name: str) -> int:
    """The signed 64-bit advisory-lock key of a name (the same in every process and release)."""
    return int.from_bytes(hashlib.blake2b(f"creditflow:{name}".encode(), digest_size=8).digest(), "big", signed=True)


@contextlib.contextmanager
def db_lock(engine: sa.Engine, name: str, timeout: float | None = None) -> Iterator[sa.Connection]:
    """Hold the lock ``name`` while the block runs; waits for another holder (at most ``timeout``
    seconds, then :class:`LockTimeout`; ``None`` waits as long as it takes). Yields the connection that
    holds the lock, inside its transaction (committed on exit, rolled back on an exception)."""
    dialect = engine.dialect.name
    if dialect == "postgresql":
        with _pg_lock(engine, name, timeout) as conn:
            yield conn
    elif dialect == "sqlite":
        with _sqlite_lock(engine, name, timeout) as conn:
            yield conn
    else:
        raise NotImplementedError(f"db_lock: no lock for the {dialect} dialect (PostgreSQL or SQLite)")


@contextlib.contextmanager
def _pg_lock(engine: sa.Engine, name: str, timeout: float | None) -> Iterator[sa.Connection]:
    with engine.connect() as conn, conn.begin():
        if timeout is not None:
            # lock_timeout also bounds the wait for an advisory lock; SET LOCAL ends with the transaction.
            conn.exec_driver_sql(f"SET LOCAL lock_timeout = '{max(1, int(timeout * 1000))}ms'")
        try:
            conn.execute(sa.text("SELECT pg_advisory_xact_lock(:key)"), {"key": lock_key(name)})
        except sa.exc.OperationalError as exc:
            if "lock timeout" in str(exc).lower() or getattr(exc.orig, "sqlstate", None) == "55P03":
                raise LockTimeout(f"锁“{name}”在{timeout}秒内未能取得（另一任务仍在执行）") from None
            raise
        if timeout is not None:
            conn.exec_driver_sql("SET LOCAL lock_timeout = 0")
        yield conn


def _locked(exc: sa.exc.OperationalError) -> bool:
    text = str(exc.orig).lower()
    return "locked" in text or "busy" in text


@contextlib.contextmanager
def _sqlite_lock(engine: sa.Engine, name: str, timeout: float | None) -> Iterator[sa.Connection]:
    deadline = None if timeout is None else time.monotonic() + timeout
    with engine.connect() as conn:
        busy = conn.exec_driver_sql("PRAGMA busy_timeout").scalar()
        # Wait in short steps (SQLite's busy handler sleeps between them), so that a timeout is honoured.
        conn.exec_driver_sql("PRAGMA busy_timeout = 200")
        try:
            while True:
                try:
                    conn.exec_driver_sql("BEGIN IMMEDIATE")
                    break
                except sa.exc.OperationalError as exc:
                    if not _locked(exc):
                        raise
                    if deadline is not None and time.monotonic() >= deadline:
                        raise LockTimeout(f"锁“{name}”在{timeout}秒内未能取得（另一任务仍在执行）") from None
                    time.sleep(0.05)
        finally:
            conn.exec_driver_sql(f"PRAGMA busy_timeout = {int(busy or 0)}")
        try:
            yield conn
        except BaseException:
            conn.rollback()
            raise
        conn.commit()


def _as_list(value: object) -> list[object]:
    if value is None:
        return []
    return list(value) if isinstance(value, (list, tuple)) else [value]


def _sqlite_file(engine: sa.Engine) -> str | None:
    """The file of an SQLite database (None: in memory or not SQLite), also from a ``file:`` URI."""
    from urllib.parse import parse_qs, urlsplit

    database = engine.url.database if engine.dialect.name == "sqlite" else None
    if not database or database == ":memory:":
        return None
    if database.startswith("file:"):  # a URI filename; SQLAlchemy keeps its parameters in the URL's query
        parts = urlsplit(database)
        modes = set(parse_qs(parts.query).get("mode", [])) | {str(m) for m in
                                                             _as_list(engine.url.query.get("mode"))}
        if "memory" in modes or parts.path in ("", ":memory:"):
            return None
        return parts.path
    return database


@contextlib.contextmanager
def work_lock(engine: sa.Engine, name: str, timeout: float | None = None) -> Iterator[None]:
    """Hold ``name`` for a long piece of work that writes through connections of its own; waits for another
    holder (at most ``timeout`` seconds, then :class:`LockTimeout`). PostgreSQL: the advisory lock of
    :func:`db_lock` (every host; the wait is bounded by the server's ``lock_timeout``). SQLite on a file:
    :class:`filelock.FileLock` (``flock``) on ``<database>.locks/<key>.lock`` (one host, as SQLite is;
    released by the OS if the holder dies; the file is removed when the work ends, a dead holder's file
    by the next holder). An in-memory database: no other process can see it, so no lock."""
    if engine.dialect.name == "postgresql":
        with db_lock(engine, name, timeout):
            yield
        return
    if engine.dialect.name != "sqlite":
        raise NotImplementedError(f"work_lock: no lock for the {engine.dialect.name} dialect (PostgreSQL or SQLite)")
    database = _sqlite_file(engine)
    if database is None:
        yield
        return
    path = Path(database).resolve()
    folder = path.with_name(path.name + ".locks")
    folder.mkdir(parents=True, exist_ok=True)
    lock_file = folder / f"{lock_key(name) & 0xFFFFFFFFFFFFFFFF:016x}.lock"
    lock = filelock.FileLock(lock_file, timeout=-1 if timeout is None else timeout, thread_local=False)
    try:
        lock.acquire(poll_interval=0.1)
    except filelock.Timeout:
        raise LockTimeout(f"锁“{name}”在{timeout}秒内未能取得（另一任务仍在执行）") from None
    try:
        yield
    finally:
        # Remove the file while still holding it, so that one file per interval does not pile up: a waiter
        # that opened this file before finds, once it gets the lock, that the file is gone (st_nlink 0)
        # and filelock opens and locks the new one instead — never two holders on two files.
        with contextlib.suppress(OSError):
            lock_file.unlink()
        lock.release()
