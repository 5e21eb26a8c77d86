"""The 诚信审核 JSON endpoint (``/creditflow/api/integrity``) for licensing and procurement systems.

Two kinds of caller: people, with an Airflow bearer token (or the UI's cookie), and machine clients — licensing
and procurement systems — with a credential of their own (``Bearer cfk_<id>.<secret>``,
:mod:`creditflow.credit.clients`): checked against the registry on every request, rate-limited per client
(``limits``; Redis when ``CREDITFLOW_RATE_LIMIT_STORAGE`` names one, so both API-server workers count together),
every answer audited as ``client:<id>``, and refused (403) on every other path of the app (:class:`ClientScope`).

Built for a steady stream of single checks: Airflow's token check once per token (then a short, bounded cache),
the database work on a small thread pool with reader connections of its own, audit rows written in batches —
the pool, readers and writer are the app's shared state (:mod:`creditflow_ui.state`). Its answers are JSON,
errors included (``creditflow_ui.errors``: every path under ``/api/``).
"""

from __future__ import annotations

import functools
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


class Presented:
    """A machine client's credential (``cfk_…``) as the request brought it: checked against the registry on the
    check thread, with the same reader connection as the check (:func:`_client_of`)."""

    __slots__ = ("token",)

    def __init__(self, token: str):
        self.token = token


async def api_user(request: Request) -> Any:
    """The integrity endpoint's caller. A machine client's credential (``Bearer cfk_…``,
    :mod:`creditflow.credit.clients`) is handed on as :class:`Presented` and checked on every request against the
    registry (no cache: a revocation is in force from the next request, in every worker). Any other bearer token
    is an Airflow user's: checked by Airflow itself (:func:`creditflow_ui.auth.current_user` — the same validation
    as ``/api/v2``: signature, expiry, the revoked-token table, the user) and then trusted for
    :data:`TOKEN_CACHE_SECONDS`, so that a stream of checks does not query Airflow's metadata database on every
    request. No token → 401; an invalid one → 403 (as ``/api/v2``). Without a bearer token (the UI's cookie) it
    is :func:`creditflow_ui.auth.current_user`."""
    from creditflow.credit import clients

    scheme, _, value = request.headers.get("authorization", "").partition(" ")
    token = value.strip() if scheme.lower() == "bearer" else ""
    if not token:
        return await auth.current_user(request)
    if clients.is_credential(token):
        return Presented(token)
    user = _TOKENS.get(token)
    if user is None:
        import jwt

        user = await auth.current_user(request)  # raises 401/403 for a missing, invalid, expired or revoked token
        exp = jwt.decode(token, options={"verify_signature": False}).get("exp")  # already verified just above
        _TOKENS.put(token, user, float(exp) if isinstance(exp, int | float) else None)
    return user


# --- machine clients: the credential checked, the rate limit counted (on the check thread) --------------------

REFUSED = "客户端凭据无效、已吊销或旧凭据已过宽限期，请向市应急管理局申请新的凭据"
TOO_MANY = "请求过于频繁：已超过本客户端的限流（{limit}），请在 {after} 秒后重试"
_LIMIT_DOWN = {"logged": 0.0}


@functools.lru_cache(maxsize=64)
def _limit_of(text: str) -> Any:
    from limits import parse

    return parse(text)


def _client_of(conn: Any, presented: Presented) -> Any:
    """The registry's client for this credential (401 when refused), counted against its rate limit (429 with
    ``Retry-After`` when over). The limiter's storage unreachable (Redis away): the check is answered and the
    fault logged (at most once a minute) — the limit guards the warehouse, it is no credential."""
    import logging
    import math

    from creditflow.credit import clients

    client = clients.verify(conn, presented.token)
    if client is None:
        raise HTTPException(401, REFUSED, headers={"WWW-Authenticate": 'Bearer error="invalid_token"'})
    limit = _limit_of(client.rate_limit)
    limiter = state.limiter()
    try:
        allowed = limiter.hit(limit, "creditflow-integrity", client.client_id)
    except Exception:  # any storage fault: answer, and say so in the log
        if time.monotonic() - _LIMIT_DOWN["logged"] > 60:
            _LIMIT_DOWN["logged"] = time.monotonic()
            logging.getLogger(__name__).exception("机器客户端限流计数不可用（%s），暂不限流", state.RATE_LIMIT_STORAGE)
        return client
    if not allowed:
        reset = limiter.get_window_stats(limit, "creditflow-integrity", client.client_id).reset_time
        after = max(1, math.ceil(reset - time.time()))
        raise HTTPException(429, TOO_MANY.format(limit=client.rate_limit, after=after),
                            headers={"Retry-After": str(after)})
    return client


def _api_check(codes: list[str] | None, purpose: str | None, caller: Any) -> dict[str, Any]:
    from creditflow.credit import integrity

    engine = state.engine()
    with state.reader(engine).connect() as conn:
        if isinstance(caller, Presented):
            asked_by = _client_of(conn, caller).asked_by
        else:
            asked_by = auth.reviewer_of(caller).user_id
        if codes is None:
            raise HTTPException(422, "请求体应为 JSON 对象 {\"codes\": [代码, …], \"purpose\": 用途}")
        if not codes or len(codes) > 500:
            raise HTTPException(422, "codes：每次查询1至500个统一社会信用代码或身份证号码")
        answers = integrity.check(conn, codes, asked_by=asked_by, channel="api", purpose=purpose,
                                  audit=state.audit(engine))
    return {"answers": answers}


async def _api_answer(codes: list[str] | None, purpose: str | None, caller: Any) -> JSONResponse:
    import asyncio

    try:
        body = await asyncio.get_running_loop().run_in_executor(state.executor(), _api_check, codes, purpose, caller)
    except ValueError as exc:
        raise HTTPException(422, mask_text(exc)) from None  # the caller's text may hold an ID
    return JSONResponse(body)


@router.get("/api/integrity")
async def api_integrity(code: list[str] = Query(default=[]), purpose: str | None = None,
                        user: Any = Depends(api_user)) -> JSONResponse:
    return await _api_answer(list(code), purpose, user)


@router.post("/api/integrity")
async def api_integrity_batch(body: Any = Body(None), user: Any = Depends(api_user)) -> JSONResponse:
    codes = body.get("codes") if isinstance(body, dict) else None
    purpose = body.get("purpose") if isinstance(body, dict) else None
    return await _api_answer([str(c) for c in codes] if isinstance(codes, list) else None, purpose, user)


# --- scope: a machine client's credential is for this endpoint only -------------------------------------------

#: The paths (inside the app) a machine client's credential may call.
CLIENT_PATHS = frozenset({"/api/integrity"})
SCOPE_REFUSED = "机器客户端凭据只能用于诚信审核接口（/creditflow/api/integrity），不能访问其他页面或接口"


class ClientScope:
    """Every request to the app carrying a machine client's credential (``Bearer cfk_…``) for any path but
    :data:`CLIENT_PATHS` is refused with 403 (Chinese JSON) before routing — pages, forms, static files, unknown
    paths alike. A plain ASGI middleware: one header look-up per request."""

    def __init__(self, app: Any):
        self.app = app

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "http":
            value = next((v for k, v in scope["headers"] if k == b"authorization"), b"")
            scheme, _, token = value.partition(b" ")
            if scheme.lower() == b"bearer" and token.strip().startswith(b"cfk_"):
                path, root = scope["path"], scope.get("root_path", "")
                inner = path[len(root):] if root and path.startswith(root) else path
                if inner not in CLIENT_PATHS:
                    await JSONResponse({"detail": SCOPE_REFUSED}, status_code=403)(scope, receive, send)
                    return
        await self.app(scope, receive, send)
