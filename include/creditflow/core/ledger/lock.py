"""The one ledger lock: every write to ``cf_ledger`` / ``cf_ledger_history`` runs under it.

Two ways to hold it, one lock:

* :func:`ledger_lock` — around a whole read-decide-write (a 双公示 ``decide``, a credit decision that
  queues a withdrawal, a batch turning ``sent``): :func:`creditflow.core.locks.work_lock` named
  ``ledger`` — the advisory lock on PostgreSQL (every host), a file lock beside an SQLite warehouse (one
  host, as SQLite is). Re-entrant within a thread, so a writer called inside it does not wait for itself.
* :func:`guard` — taken by every write function of this package on the connection it writes through,
  for a caller that did not take :func:`ledger_lock` (a test driving ``decide`` directly): PostgreSQL
  ``pg_advisory_xact_lock`` of the same key on that connection (released when its transaction ends);
  SQLite the database's write lock (a no-op write), which keeps out every other writer until commit.

Either way, a write re-reads the rows it changes under the lock and refuses (:class:`LedgerConflict`) when
they are not what the caller decided on, so a decision made on rows read before the lock is never applied
over an operation another capability queued in the meantime.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator

import sqlalchemy as sa

from creditflow.core.locks import lock_key, work_lock

LOCK_NAME = "ledger"
_held = threading.local()


class LedgerConflict(ValueError):
    """A ledger row changed between the caller's read and its write (another operation was queued, sent or
    answered): nothing was written; decide again on what the ledger holds now (a retry does)."""


def _key(engine: sa.Engine) -> str:
    return engine.url.render_as_string(hide_password=True)


def _holding() -> set[str]:
    keys: set[str] | None = getattr(_held, "keys", None)
    if keys is None:
        keys = _held.keys = set()
    return keys


def held(engine: sa.Engine) -> bool:
    """Whether this thread holds :func:`ledger_lock` of the engine's database."""
    return _key(engine) in _holding()


@contextlib.contextmanager
def ledger_lock(engine: sa.Engine, timeout: float | None = None) -> Iterator[None]:
    """Hold the ledger lock while the block runs (its reads and its writes); waits for another holder (at most
    ``timeout`` seconds, then :class:`creditflow.core.locks.LockTimeout`). Commit the block's writes inside it."""
    key = _key(engine)
    keys = _holding()
    if key in keys:
        yield
        return
    with work_lock(engine, LOCK_NAME, timeout):
        keys.add(key)
        try:
            yield
        finally:
            keys.discard(key)


def guard(conn: sa.Connection) -> None:
    """Make the rest of ``conn``'s transaction run under the ledger lock (see the module docstring). The
    lock then belongs to that transaction: do not enter :func:`ledger_lock` inside it (that would wait for
    it) — take :func:`ledger_lock` first, around the whole transaction, as the credit decisions do."""
    if held(conn.engine):
        return
    dialect = conn.dialect.name
    if dialect == "postgresql":
        conn.execute(sa.text("SELECT pg_advisory_xact_lock(:key)"), {"key": lock_key(LOCK_NAME)})
    elif dialect == "sqlite":
        # The first write of the transaction takes SQLite's write lock (waiting up to the busy timeout); reads
        # after it see every committed write and no other writer commits until this transaction ends.
        conn.execute(sa.text("UPDATE cf_ledger SET kind = kind WHERE 0 = 1"))
    else:
        raise NotImplementedError(f"ledger lock: no lock for the {dialect} dialect (PostgreSQL or SQLite)")
