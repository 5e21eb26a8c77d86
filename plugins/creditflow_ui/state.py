"""What the pages and the integrity API share for the life of the API-server process: the warehouse engine (one
connection pool for every page and check), the integrity endpoint's reader engine, check threads and batched
audit writer.

Created once: eagerly in the app's lifespan (:func:`creditflow_ui.lifespan` — Airflow 3.3's API server enters
the lifespan of every FastAPI app a plugin mounts, ``airflow.api_fastapi.app.lifespan``), else lazily on first
use (a test's ``TestClient`` without ``with``, a worker that has not started the lifespan); closed at shutdown —
the audit rows still queued are flushed, the pools disposed. Before, each 双公示 page built an engine (and a
pool) per request.
"""

from __future__ import annotations

import os
import threading
import time
from typing import Any

#: The check threads of the integrity endpoint (per process), one reader connection each: checks run on the event
#: loop stall it for every PostgreSQL round trip (measured 108–142/s achieved of 200/s asked).
CHECK_THREADS = 4
#: How often the ``creditflow_db`` connection is looked up again (a changed connection takes effect without a restart).
URL_RECHECK_SECONDS = 30

_LOCK = threading.Lock()
_ENGINES: dict[str, Any] = {}
_URL: dict[str, Any] = {"url": "", "at": -1e9}
_AUDIT: dict[int, Any] = {}
_READERS: dict[int, Any] = {}
_EXECUTOR: list[Any] = []
_LIMITER: list[Any] = []

#: Where the machine clients' rate limits are counted (``limits`` storage URI): ``redis://…`` shares one count per
#: client between every API-server worker (the cluster runs two), ``memory://`` (the default) counts per worker.
RATE_LIMIT_STORAGE = "CREDITFLOW_RATE_LIMIT_STORAGE"


def engine() -> Any:
    """The warehouse engine of the ``creditflow_db`` connection: one per URL for the life of the process; the lock
    keeps concurrent first requests from each opening a pool of their own."""
    from creditflow.core.warehouse import engine_from_url
    from creditflow_airflow.hooks import WAREHOUSE_CONN, ensure_keyring, sqlalchemy_url

    with _LOCK:
        if time.monotonic() - _URL["at"] > URL_RECHECK_SECONDS:
            ensure_keyring()  # pages open personal data to show it masked (#19 §3)
            _URL.update(url=sqlalchemy_url(WAREHOUSE_CONN), at=time.monotonic())
        url = str(_URL["url"])
        if url not in _ENGINES:
            _ENGINES[url] = engine_from_url(url)
        return _ENGINES[url]


def audit(eng: Any) -> Any:
    """The batched audit writer of this engine (:class:`creditflow.credit.integrity.AuditWriter`)."""
    from creditflow.credit.integrity import AuditWriter

    with _LOCK:
        writer = _AUDIT.get(id(eng))
        if writer is None:
            writer = _AUDIT[id(eng)] = AuditWriter(eng)
        return writer


def reader(eng: Any) -> Any:
    """The engine for the endpoint's reads (its audit rows go to the batch writer): autocommit, so no
    BEGIN/ROLLBACK round trips around two index look-ups. On PostgreSQL a pool of its own, one connection per
    check thread, set to autocommit once when it connects (switching a shared pool's connections back and forth
    costs a round trip per check)."""
    import sqlalchemy as sa

    with _LOCK:
        found = _READERS.get(id(eng))
        if found is None:
            if eng.dialect.name == "postgresql":
                found = sa.create_engine(eng.url, isolation_level="AUTOCOMMIT", pool_size=CHECK_THREADS,
                                         max_overflow=0)
            else:
                found = eng.execution_options(isolation_level="AUTOCOMMIT")
            _READERS[id(eng)] = found
        return found


def executor() -> Any:
    """The check threads (a plain executor: anyio's per-call task group, limiter and cancel scope cost more CPU
    than the hand-over itself)."""
    from concurrent.futures import ThreadPoolExecutor

    with _LOCK:
        if not _EXECUTOR:
            _EXECUTOR.append(ThreadPoolExecutor(CHECK_THREADS, thread_name_prefix="creditflow-check"))
        return _EXECUTOR[0]


def limiter() -> Any:
    """The machine clients' rate limiter (``limits``' sliding-window counter: one counter pair per client and
    window, one Redis round trip per request) on the storage of :data:`RATE_LIMIT_STORAGE`."""
    with _LOCK:
        if not _LIMITER:
            from limits.storage import storage_from_string
            from limits.strategies import SlidingWindowCounterRateLimiter

            uri = os.environ.get(RATE_LIMIT_STORAGE, "") or "memory://"
            _LIMITER.append(SlidingWindowCounterRateLimiter(storage_from_string(uri)))
        return _LIMITER[0]


def open() -> None:
    """Create what every request needs before the first one arrives (the engine's pool, the check threads); the
    ``creditflow_db`` connection is looked up afresh at every start."""
    with _LOCK:
        _URL.update(url="", at=-1e9)
    executor()
    try:
        engine()
    except Exception:  # no creditflow_db connection yet: the first page says so in Chinese, the server still starts
        import logging

        logging.getLogger("creditflow.ui").warning("creditflow_db not available at start-up; retried per request")


def close() -> None:
    """Flush queued audit rows, stop the check threads, dispose the pools (the app's shutdown; also at exit)."""
    with _LOCK:
        writers, readers, engines = list(_AUDIT.values()), list(_READERS.values()), list(_ENGINES.values())
        pools = list(_EXECUTOR)
        for held in (_AUDIT, _READERS, _ENGINES):
            held.clear()
        _EXECUTOR.clear()
        _LIMITER.clear()
        _URL.update(url="", at=-1e9)
    for writer in writers:
        writer.close()
    for pool in pools:
        pool.shutdown(wait=True)
    for eng in {id(e): e for e in [*readers, *engines]}.values():
        eng.dispose()


import atexit  # noqa: E402 — registered last: a process that never ran the lifespan still flushes its audit rows

atexit.register(close)
