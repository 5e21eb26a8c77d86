"""Triggers the triggerer runs for creditflow's deferred tasks (importable there: this package is on the
path of every Airflow process; nothing here imports the DAGs, the plugins or the warehouse).

:class:`PlatformReceiptsTrigger` is the receipt wait of ``sgs_<kind>``'s ``receipts`` task. The platform
processes a batch for seconds to minutes before its receipts are ready; a task that slept through that
held a worker slot and a ``credit_platform`` pool slot (issue #17 §4). Deferred, the task holds neither:
the trigger polls ``GET /api/v1/batches/{id}`` asynchronously with growing pauses, and when every batch is
done — or the deadline has passed, or the platform refuses a request for good — it fires one event and the
task resumes on a worker to record the receipts (the recording writes the ledger, which a trigger never
does).

The platform's secret never travels in the trigger's kwargs (they are stored in the metadata database in
clear): the trigger is given the connection id and reads the connection in the triggerer
(``BaseHook.aget_connection``, Airflow 3.3's async look-up through the triggerer's secrets chain). Its TLS
is verified as the platform hook's is: against the CA bundle in the connection's extra ``ca_bundle``, else
the default store; a certificate that does not verify ends the wait at once with an ``error`` event (asking
again until the deadline would not fix it).
"""

from __future__ import annotations

import asyncio
import ssl
import time
from collections.abc import AsyncIterator
from typing import Any

from airflow.triggers.base import BaseTrigger, TriggerEvent

#: A batch answer that will not change by asking again (other than 401: a new token, and 429: wait).
_FINAL_STATUS = range(400, 500)


def platform_base_url(host: str | None, schema: str | None, port: int | None) -> str:
    """The base URL of an HTTP connection, as the platform hook builds it (a host may carry its scheme)."""
    host = host or "localhost"
    base = host if "://" in host else f"{schema or 'http'}://{host}"
    if port and f":{port}" not in base.split("://", 1)[1]:
        base += f":{port}"
    return base.rstrip("/")


class PlatformReceiptsTrigger(BaseTrigger):
    """Fires once every batch in ``batch_ids`` is done on the platform, or at ``deadline`` (epoch seconds,
    the wall clock: the triggerer may run on another host than the task).

    Event payload (counts only): ``status`` ``done`` | ``timeout`` | ``error``, ``processing`` (batches not
    done), ``polls``, ``waited`` (seconds) and, for ``error``, ``message`` (the platform's status code and
    error code — never a record) and ``echo``: what the task gave to be handed back (its wait's bounds; a
    task's defer kwargs are not handed back by every runner — ``dag.test`` drops them)."""

    def __init__(self, *, kind: str, batch_ids: list[str], deadline: float, conn_id: str = "credit_platform",
                 first_pause: float = 1.0, max_pause: float = 30.0, echo: dict[str, Any] | None = None) -> None:
        super().__init__()
        self.kind = kind
        self.batch_ids = list(batch_ids)
        self.deadline = float(deadline)
        self.conn_id = conn_id
        self.first_pause = float(first_pause)
        self.max_pause = float(max_pause)
        self.echo = dict(echo or {})

    def serialize(self) -> tuple[str, dict[str, Any]]:
        return (f"{type(self).__module__}.{type(self).__qualname__}",
                {"kind": self.kind, "batch_ids": self.batch_ids, "deadline": self.deadline,
                 "conn_id": self.conn_id, "first_pause": self.first_pause, "max_pause": self.max_pause,
                 "echo": self.echo})

    async def run(self) -> AsyncIterator[TriggerEvent]:
        import httpx
        from airflow.sdk import BaseHook
        from creditflow.core.platform_client import certificate_refusal, tls_message

        conn = await BaseHook.aget_connection(self.conn_id)
        extra = conn.extra_dejson or {}
        base = platform_base_url(conn.host, conn.schema, conn.port)
        started, polls, pause = time.time(), 0, self.first_pause
        pending = set(self.batch_ids)
        try:
            bundle, verify = tls_verify(extra, self.conn_id)
        except ValueError as exc:  # no such CA file on the triggerer's host: the task log should say so
            yield self._event("error", pending, polls, started, message=str(exc))
            return
        token: str | None = None
        # A new connection per request: polls are seconds to minutes apart, longer than servers keep an idle
        # connection open (a kept one is found closed mid-request).
        async with httpx.AsyncClient(base_url=base, timeout=float(extra.get("timeout", 30)), trust_env=False,
                                     verify=verify, limits=httpx.Limits(max_keepalive_connections=0)) as http:
            while True:
                polls += 1
                try:
                    for batch_id in sorted(pending):
                        if token is None:
                            token = await self._token(http, conn.login or "", conn.password or "")
                        resp = await http.get(f"/api/v1/batches/{batch_id}",
                                              headers={"Authorization": f"Bearer {token}"})
                        if resp.status_code == 401:  # expired mid-wait: a new token on the next round
                            token = None
                            break
                        if resp.status_code == 200 and resp.json().get("status") == "done":
                            pending.discard(batch_id)
                        elif resp.status_code in _FINAL_STATUS and resp.status_code != 429:
                            yield self._event("error", pending, polls, started,
                                              message=f"HTTP {resp.status_code} {_code(resp)}")
                            return
                except (httpx.TransportError, ValueError) as exc:  # the platform is down or slow: ask again
                    reason = certificate_refusal(exc)
                    if reason is not None:  # a certificate refused stays refused
                        yield self._event("error", pending, polls, started, message=tls_message(
                            "全国信用信息共享平台", self.conn_id, bundle, base, reason))
                        return
                    self.log.warning("%s: polling the platform failed (%s); retrying", self.kind,
                                     type(exc).__name__)
                except _TokenRefused as exc:
                    yield self._event("error", pending, polls, started, message=str(exc))
                    return
                if not pending:
                    yield self._event("done", pending, polls, started)
                    return
                left = self.deadline - time.time()
                if left <= 0:
                    yield self._event("timeout", pending, polls, started)
                    return
                self.log.info("%s: %d batches still processing; next look in %.1f s", self.kind, len(pending),
                              min(pause, left))
                await asyncio.sleep(min(pause, left))
                pause = min(self.max_pause, pause * 2)

    async def _token(self, http: Any, key: str, secret: str) -> str:
        resp = await http.post("/oauth/token", json={"app_key": key, "app_secret": secret})
        if resp.status_code == 200:
            return str(resp.json()["access_token"])
        if resp.status_code in _FINAL_STATUS and resp.status_code != 429:
            raise _TokenRefused(f"token: HTTP {resp.status_code} {_code(resp)}")
        raise ValueError(f"token: HTTP {resp.status_code}")  # 5xx / 429: transient, asked again

    def _event(self, status: str, pending: set[str], polls: int, started: float, **more: Any) -> TriggerEvent:
        return TriggerEvent({"status": status, "kind": self.kind, "batches": len(self.batch_ids),
                             "processing": len(pending), "polls": polls,
                             "waited": round(time.time() - started, 3), "echo": self.echo, **more})


def tls_verify(extra: dict[str, Any], conn_id: str) -> tuple[bool | str, ssl.SSLContext | bool]:
    """The connection extra's CA bundle (checked as the platform client checks it: no off switch, the file
    must exist) and what httpx verifies with: an SSL context of that bundle, or True for the default store."""
    from creditflow.core.platform_client import check_verify

    from creditflow_airflow.hooks import ca_bundle

    bundle = check_verify(ca_bundle(extra), conn_id)
    return bundle, (True if bundle is True else ssl.create_default_context(cafile=str(bundle)))


class _TokenRefused(RuntimeError):
    """The platform refused the connection's key or secret: asking again will not help."""


def _code(resp: Any) -> str:
    try:
        body = resp.json()
    except ValueError:
        return ""
    detail = body.get("detail", body) if isinstance(body, dict) else {}
    return str(detail.get("code", "")) if isinstance(detail, dict) else ""
