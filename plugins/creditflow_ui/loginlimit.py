"""Sign-in attempts through the API are rate-limited, as the login form is (#19 §1).

FAB's limiter (``AUTH_RATE_LIMITED`` in ``config/webserver_config.py``) guards only the login *form*; a script can
also try passwords at ``POST /auth/token`` (and ``/auth/token/cli``), which Airflow does not limit. This root ASGI
middleware (a plugin's ``fastapi_root_middlewares``) counts those attempts with the ``limits`` library — in
``CREDITFLOW_RATELIMIT_STORAGE`` (Redis in the cluster and compose: every API worker shares the count), in memory
otherwise — under two keys:

* per client address **and** user name: ``CREDITFLOW_TOKEN_RATE_LIMIT`` (default ``10 per minute``) — guessing
  one person's password;
* per client address: ``CREDITFLOW_TOKEN_RATE_LIMIT_ADDRESS`` (default ``60 per minute``) — trying many names.

Over either limit the answer is 429 with a Chinese JSON message and ``Retry-After``; the attempt never reaches the
auth manager. Successful and failed attempts count alike (the middleware cannot know before the directory does).
"""

from __future__ import annotations

import json
import logging
import math
import os
import time
from typing import Any
from urllib.parse import parse_qs

log = logging.getLogger(__name__)

PATHS = ("/auth/token", "/auth/token/cli")
_MAX_BODY = 64 * 1024


class _Limits:
    def __init__(self) -> None:
        from limits import parse
        from limits.storage import storage_from_string
        from limits.strategies import MovingWindowRateLimiter

        self.per_user = parse(os.environ.get("CREDITFLOW_TOKEN_RATE_LIMIT", "10 per minute"))
        self.per_address = parse(os.environ.get("CREDITFLOW_TOKEN_RATE_LIMIT_ADDRESS", "60 per minute"))
        self.limiter = MovingWindowRateLimiter(
            storage_from_string(os.environ.get("CREDITFLOW_RATELIMIT_STORAGE", "") or "memory://"))

    def hit(self, address: str, username: str) -> float | None:
        """``None`` when the attempt may go on, else the seconds until it may be tried again."""
        for item, keys in ((self.per_address, ("token", address)), (self.per_user, ("token", address, username))):
            try:
                if not self.limiter.hit(item, *keys):
                    reset = self.limiter.get_window_stats(item, *keys).reset_time
                    return max(reset - time.time(), 1.0)
            except Exception as exc:  # a limiter store that is down must not stop sign-in: logged, not hidden
                log.error("登录限流计数失败（%s），本次不限流: %s", type(exc).__name__, exc)
                return None
        return None


def _username(body: bytes, content_type: str) -> str:
    try:
        if "json" in content_type:
            data = json.loads(body or b"{}")
            return str(data.get("username") or "") if isinstance(data, dict) else ""
        if "form" in content_type:
            return (parse_qs(body.decode("utf-8", "replace")).get("username") or [""])[0]
    except (ValueError, UnicodeDecodeError):
        pass
    return ""


class TokenRateLimit:
    """Pure ASGI: only ``POST`` to :data:`PATHS` is read (its body replayed to the app unchanged)."""

    def __init__(self, app: Any) -> None:
        self.app = app
        self._limits: _Limits | None = None

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        path = str(scope.get("path", "")).rstrip("/")
        if scope.get("type") != "http" or scope.get("method") != "POST" or path not in PATHS:
            await self.app(scope, receive, send)
            return
        messages, body = [], b""
        while True:
            message = await receive()
            messages.append(message)
            if message["type"] != "http.request":
                break
            body += message.get("body", b"")
            if not message.get("more_body") or len(body) > _MAX_BODY:
                break
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope.get("headers", [])}
        address = (scope.get("client") or ("?", 0))[0]
        if self._limits is None:
            self._limits = _Limits()
        wait = self._limits.hit(address, _username(body, headers.get("content-type", "")).strip().lower())
        if wait is not None:
            seconds = str(math.ceil(wait))
            payload = json.dumps({"detail": f"登录尝试过于频繁，请 {seconds} 秒后再试"}, ensure_ascii=False).encode()
            await send({"type": "http.response.start", "status": 429,
                        "headers": [(b"content-type", b"application/json; charset=utf-8"),
                                    (b"retry-after", seconds.encode())]})
            await send({"type": "http.response.body", "body": payload})
            return

        async def replay() -> Any:
            if messages:
                return messages.pop(0)
            return await receive()

        await self.app(scope, replay, send)
