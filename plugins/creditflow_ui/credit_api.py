"""The 诚信审核 JSON endpoint (``/creditflow/api/integrity``) for licensing and procurement systems.

Built for a steady stream of single checks: Airflow's token check once per token (then a short, bounded cache),
the database work on a small thread pool with reader connections of its own, audit rows written in batches —
the pool, readers and writer are the app's shared state (:mod:`creditflow_ui.state`). Its answers are JSON,
errors included (``creditflow_ui.errors``: every path under ``/api/``).
"""

from __future__ import annotations

import os
import time
from typing import Any

from creditflow.common import mask_text
from fastapi import APIRouter, Body, Depends, HTTPException, Query, Request
from fastapi.responses import JSONResponse

from creditflow_ui import auth, state

router = APIRouter()


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


def _api_check(codes: list[str], purpose: str | None, user: Any) -> dict[str, Any]:
    from creditflow.credit import integrity

    engine = state.engine()
    answers = integrity.check(state.reader(engine), codes, asked_by=auth.reviewer_of(user).user_id, channel="api",
                              purpose=purpose, audit=state.audit(engine))
    return {"answers": answers}


async def _api_answer(codes: list[str], purpose: str | None, user: Any) -> JSONResponse:
    import asyncio

    if not codes or len(codes) > 500:
        raise HTTPException(422, "codes：每次查询1至500个统一社会信用代码或身份证号码")
    try:
        body = await asyncio.get_running_loop().run_in_executor(state.executor(), _api_check, codes, purpose, user)
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
