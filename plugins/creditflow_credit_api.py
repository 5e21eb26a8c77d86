"""The 诚信审核 JSON endpoint of the ``creditflow_credit`` plugin (``/credit/api/integrity``), and the warehouse
engine and batched audit writer the plugin's pages share with it.

Built for a steady stream of single checks from licensing and procurement systems: Airflow's token check once
per token (then a short, bounded cache), the database work on a small thread pool with reader connections of
its own, audit rows written in batches. Not a plugin module itself: ``creditflow_credit.py`` mounts
:data:`router` in its app.
"""

from __future__ import annotations

import atexit
import os
import threading
import time
from typing import Any

from creditflow.common import mask_text
from creditflow_ui import auth
from fastapi import APIRouter, Body, Depends, HTTPException, Query, Request
from fastapi.responses import JSONResponse

router = APIRouter()

_ENGINES: dict[str, Any] = {}
_URL: dict[str, Any] = {"url": "", "at": -1e9}
_LOCK = threading.Lock()


def _engine() -> Any:
    """The warehouse engine of the ``creditflow_db`` connection: one per URL for the life of the process, so its
    connection pool serves every request. The connection is looked up again after 30 s (a changed
    ``creditflow_db`` takes effect without a restart); the lock keeps concurrent first requests from each
    opening a pool of their own."""
    from creditflow.core.warehouse import engine_from_url
    from creditflow_hooks import WAREHOUSE_CONN, sqlalchemy_url

    with _LOCK:
        if time.monotonic() - _URL["at"] > 30:
            _URL.update(url=sqlalchemy_url(WAREHOUSE_CONN), at=time.monotonic())
        url = str(_URL["url"])
        if url not in _ENGINES:
            _ENGINES[url] = engine_from_url(url)
        return _ENGINES[url]


_AUDIT: dict[int, Any] = {}


def _audit(engine: Any) -> Any:
    """The batched audit writer of this engine (one per engine and process; flushed at a normal shutdown)."""
    from creditflow.credit.integrity import AuditWriter

    with _LOCK:
        writer = _AUDIT.get(id(engine))
        if writer is None:
            writer = _AUDIT[id(engine)] = AuditWriter(engine)
        return writer


@atexit.register
def _close_audit() -> None:
    for writer in list(_AUDIT.values()):
        writer.close()


# --- the integrity endpoint (JSON, Airflow tokens) ---------------------------------------------------------

#: How long a validated bearer token is trusted without asking Airflow again (seconds; 0: ask every time).
#: A token revoked by Airflow (``/auth/logout``) is refused by this endpoint at most this long afterwards.
TOKEN_CACHE_SECONDS = float(os.environ.get("CREDITFLOW_API_TOKEN_CACHE_SECONDS", "10"))


class TokenCache:
    """Bearer tokens that Airflow's own validation (signature, expiry, revoked-token table, the user) accepted,
    trusted for ``ttl`` seconds and never past the token's own ``exp``. Refused tokens are never cached.
    Used from the event loop only (no lock)."""

    def __init__(self, ttl: float, size: int = 10_000, clock: Any = time.monotonic):
        self.ttl, self.size, self.clock = ttl, size, clock
        self._users: dict[str, tuple[Any, float]] = {}

    def get(self, token: str) -> Any:
        hit = self._users.get(token)
        if hit is None:
            return None
        if hit[1] <= self.clock():
            self._users.pop(token, None)
            return None
        return hit[0]

    def put(self, token: str, user: Any, exp: float | None) -> None:
        if self.ttl <= 0:
            return
        now = self.clock()
        until = now + self.ttl
        if exp is not None:
            until = min(until, now + (exp - time.time()))
        if until <= now:
            return
        if len(self._users) >= self.size:  # drop the expired, else the oldest
            for key in [k for k, (_, t) in self._users.items() if t <= now] or [next(iter(self._users))]:
                self._users.pop(key, None)
        self._users[token] = (user, until)

    def clear(self) -> None:
        self._users.clear()


_TOKENS = TokenCache(TOKEN_CACHE_SECONDS)


async def api_user(request: Request) -> Any:
    """The integrity endpoint's caller: the ``Authorization: Bearer`` token checked by Airflow itself
    (:func:`creditflow_ui.auth.current_user` — the same validation as ``/api/v2``: signature, expiry, the
    revoked-token table, the user) and then trusted for :data:`TOKEN_CACHE_SECONDS`, so that a stream of
    checks does not query Airflow's metadata database on every request. No token → 401; an invalid one → 403
    (as ``/api/v2``). Without a bearer token (the UI's cookie) it is :func:`creditflow_ui.auth.current_user`."""
    scheme, _, value = request.headers.get("authorization", "").partition(" ")
    token = value.strip() if scheme.lower() == "bearer" else ""
    if not token:
        return await auth.current_user(request)
    user = _TOKENS.get(token)
    if user is None:
        import jwt

        user = await auth.current_user(request)  # raises 401/403 for a missing, invalid, expired or revoked token
        exp = jwt.decode(token, options={"verify_signature": False}).get("exp")  # already verified just above
        _TOKENS.put(token, user, float(exp) if isinstance(exp, int | float) else None)
    return user


#: The endpoint's database work runs in these threads (per process), one reader connection each (:func:`_reader`),
#: so no connection is opened and closed per request under load; the event loop goes on parsing and answering
#: other requests meanwhile (checks run on the loop itself stall it for every PostgreSQL round trip: measured
#: 108–142/s achieved of 200/s asked). A plain executor: anyio's per-call task group, limiter and cancel scope
#: cost more CPU than the hand-over itself.
CHECK_THREADS = 4
_EXECUTOR: list[Any] = []


def _executor() -> Any:
    from concurrent.futures import ThreadPoolExecutor

    with _LOCK:
        if not _EXECUTOR:
            _EXECUTOR.append(ThreadPoolExecutor(CHECK_THREADS, thread_name_prefix="creditflow-check"))
        return _EXECUTOR[0]


def _api_check(codes: list[str], purpose: str | None, user: Any) -> dict[str, Any]:
    from creditflow.credit import integrity

    engine = _engine()
    answers = integrity.check(_reader(engine), codes, asked_by=auth.reviewer_of(user).user_id, channel="api",
                              purpose=purpose, audit=_audit(engine))
    return {"answers": answers}


_READERS: dict[int, Any] = {}


def _reader(engine: Any) -> Any:
    """The engine for the endpoint's reads (its audit rows go to the batch writer): autocommit, so no
    BEGIN/ROLLBACK round trips around two index look-ups. On PostgreSQL a pool of its own, one connection per
    check thread, set to autocommit once when it connects (switching a shared pool's connections back and forth
    costs a round trip per check)."""
    import sqlalchemy as sa

    with _LOCK:
        reader = _READERS.get(id(engine))
        if reader is None:
            if engine.dialect.name == "postgresql":
                reader = sa.create_engine(engine.url, isolation_level="AUTOCOMMIT", pool_size=CHECK_THREADS,
                                          max_overflow=0)
            else:
                reader = engine.execution_options(isolation_level="AUTOCOMMIT")
            _READERS[id(engine)] = reader
        return reader


async def _api_answer(codes: list[str], purpose: str | None, user: Any) -> JSONResponse:
    import asyncio

    if not codes or len(codes) > 500:
        raise HTTPException(422, "codes：每次查询1至500个统一社会信用代码或身份证号码")
    try:
        body = await asyncio.get_running_loop().run_in_executor(_executor(), _api_check, codes, purpose, user)
    except ValueError as exc:
        raise HTTPException(422, mask_text(exc)) from None  # the caller's text may hold an ID
    return JSONResponse(body)


@router.get("/api/integrity")
async def api_integrity(code: list[str] = Query(default=[]), purpose: str | None = None,
                        user: Any = Depends(api_user)) -> JSONResponse:
    return await _api_answer(list(code), purpose, user)


@router.post("/api/integrity")
async def api_integrity_batch(body: dict[str, Any] = Body(...), user: Any = Depends(api_user)) -> JSONResponse:
    codes = body.get("codes")
    if not isinstance(codes, list):
        raise HTTPException(422, "请求体应为 JSON 对象 {\"codes\": [代码, …], \"purpose\": 用途}")
    return await _api_answer([str(c) for c in codes], body.get("purpose"), user)
