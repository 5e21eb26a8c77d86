"""Fault injection shared by the sandboxes: what a real government platform does on a bad day.

Two ways to ask for faults, both set through the admin endpoint (``POST /admin/faults``) or the
environment (``SANDBOX_FAULTS`` as JSON):

* rates — ``error_rate`` (500/502/503 at random), ``rate_limit_rate`` (429 with ``Retry-After``),
  ``hang_rate`` (sleep ``hang_seconds``, past a client's timeout), ``drop_rate`` (the connection is
  cut after the request was processed), ``latency_ms`` (added to every API call); drawn from a seeded
  RNG so a test is repeatable;
* a queue — ``queue: ["503", "429", "drop", "hang", "500"]``: the next API calls get these faults in
  order, one each, then behave. Tests use the queue for exact scenarios.
"""

from __future__ import annotations

import asyncio
import json
import os
import random
import threading
from dataclasses import asdict, dataclass, field
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send


@dataclass
class FaultConfig:
    error_rate: float = 0.0
    error_codes: list[int] = field(default_factory=lambda: [500, 502, 503])
    rate_limit_rate: float = 0.0
    retry_after: int = 1
    hang_rate: float = 0.0
    hang_seconds: float = 30.0
    drop_rate: float = 0.0
    latency_ms: int = 0
    seed: int = 0
    queue: list[str] = field(default_factory=list)


class FaultInjector:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.config = FaultConfig()
        self.rng = random.Random(0)
        self.injected: dict[str, int] = {}
        env = os.environ.get("SANDBOX_FAULTS")
        if env:
            self.update(json.loads(env))

    def update(self, changes: dict[str, Any]) -> FaultConfig:
        with self._lock:
            data = asdict(self.config)
            unknown = set(changes) - set(data)
            if unknown:
                raise ValueError(f"unknown fault knobs: {sorted(unknown)}")
            data.update(changes)
            self.config = FaultConfig(**data)
            if "seed" in changes:
                self.rng = random.Random(self.config.seed)
            return self.config

    def reset(self) -> None:
        with self._lock:
            self.config = FaultConfig()
            self.rng = random.Random(0)
            self.injected = {}

    def draw(self) -> str | None:
        """The fault for the next API call, or None."""
        with self._lock:
            c = self.config
            fault: str | None = None
            if c.queue:
                fault = c.queue.pop(0)
            else:
                r = self.rng.random()
                for name, rate in (("error", c.error_rate), ("429", c.rate_limit_rate),
                                   ("hang", c.hang_rate), ("drop", c.drop_rate)):
                    if r < rate:
                        fault = str(self.rng.choice(c.error_codes)) if name == "error" else name
                        break
                    r -= rate
            if fault:
                self.injected[fault] = self.injected.get(fault, 0) + 1
            return fault


class FaultMiddleware:
    """ASGI middleware applying the injector to paths under ``protected_prefix``."""

    def __init__(self, app: ASGIApp, injector: FaultInjector, protected_prefix: str = "/api/") -> None:
        self.app = app
        self.injector = injector
        self.prefix = protected_prefix

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not scope["path"].startswith(self.prefix):
            await self.app(scope, receive, send)
            return
        cfg = self.injector.config
        if cfg.latency_ms:
            await asyncio.sleep(cfg.latency_ms / 1000)
        fault = self.injector.draw()
        if fault is None:
            await self.app(scope, receive, send)
        elif fault.isdigit() and fault != "429":
            await _plain(send, int(fault), {"code": f"HTTP_{fault}", "message": "服务暂时不可用"})
        elif fault == "429":
            await _plain(send, 429, {"code": "RATE_LIMITED", "message": "请求过于频繁"},
                         [(b"retry-after", str(cfg.retry_after).encode())])
        elif fault == "hang":
            await asyncio.sleep(cfg.hang_seconds)
            await _plain(send, 504, {"code": "GATEWAY_TIMEOUT", "message": "网关超时"})
        elif fault == "drop":
            # Process the request for real, then cut the connection mid-body: the client cannot know
            # whether its request took effect (the case idempotency keys exist for).
            started: dict[str, Any] = {}

            async def swallow(message: Message) -> None:
                if message["type"] == "http.response.start":
                    started.update(message)

            await self.app(scope, receive, swallow)
            await send({"type": "http.response.start", "status": started.get("status", 200),
                        "headers": [(b"content-type", b"application/json"), (b"content-length", b"4096")]})
            await send({"type": "http.response.body", "body": b'{"partial":', "more_body": True})
            raise ConnectionResetError("sandbox fault: connection dropped")
        else:
            await self.app(scope, receive, send)


async def _plain(send: Send, status: int, body: dict[str, Any],
                 extra: list[tuple[bytes, bytes]] | None = None) -> None:
    payload = json.dumps(body, ensure_ascii=False).encode()
    headers = [(b"content-type", b"application/json; charset=utf-8"),
               (b"content-length", str(len(payload)).encode()), *(extra or [])]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": payload})
