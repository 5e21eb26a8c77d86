"""HTTP client of the shared credit platform (and of the licensing system), with the retry discipline
the real systems need: token refresh when it expires mid-run, retries with exponential backoff on
5xx / timeouts / dropped connections, ``Retry-After`` honoured on 429 (the loop is tenacity's).

TLS: the clients verify the server's certificate against ``verify`` — the path of a CA bundle (the national
platform's front end often carries a certificate from a domestic CA that no system store holds) or ``True``
for the default store. There is no way to turn verification off: a client that accepted any certificate
would hand the platform's secret to whoever answers. A certificate that does not verify is not retried (it
will not fix itself) and raises :class:`PlatformTLSError`, whose Chinese message names the connection and
the CA bundle for the task log.

No Airflow here: the Airflow hooks in ``include/creditflow_airflow/hooks.py`` build these clients from
connections (the CA bundle from the connection's extra ``ca_bundle``).
"""

from __future__ import annotations

import logging
import os
import random
import ssl
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import requests
import tenacity

log = logging.getLogger(__name__)

RETRY_STATUS = {500, 502, 503, 504}


class PlatformError(RuntimeError):
    """The platform refused a request for a reason retrying will not fix (4xx other than 401/429)."""

    def __init__(self, status: int, body: Any):
        super().__init__(f"platform answered {status}: {body}")
        self.status = status
        self.body = body


class RetriesExhausted(RuntimeError):
    pass


class PlatformTLSError(RuntimeError):
    """The server's certificate did not verify against the CA bundle: a wrong bundle, a server certificate
    from another CA or for another host. Never retried; the message is for the clerk reading the task log."""


def check_verify(verify: bool | str | os.PathLike[str], conn_id: str = "") -> bool | str:
    """The ``verify`` setting of a client, checked at once rather than at the first request: ``True`` (the
    default store) or the path of a CA bundle that exists. ``False`` is refused — there is no off switch."""
    if verify is True:
        return True
    if verify is False or not str(verify):
        raise ValueError(f"连接 {conn_id or '?'}：不允许关闭 TLS 证书校验；"
                         "请在连接 extra 的 ca_bundle 中给出 CA 证书文件")
    path = os.fspath(verify)
    if not os.path.isfile(path):
        raise ValueError(f"连接 {conn_id or '?'}：CA 证书文件 {path} 不存在（连接 extra 的 ca_bundle）")
    return path


def certificate_refusal(exc: BaseException) -> str | None:
    """The verifier's reason when ``exc`` (from requests or httpx, which wrap it differently) comes from a
    certificate that did not verify; None for any other error (a dropped connection, an EOF in the handshake:
    those may pass and stay retried)."""
    seen: set[int] = set()
    stack: list[Any] = [exc]
    while stack:
        e = stack.pop()
        if not isinstance(e, BaseException) or id(e) in seen:
            continue
        seen.add(id(e))
        if isinstance(e, ssl.SSLCertVerificationError):
            return str(e.verify_message or e.reason or e)
        stack.extend([e.__cause__, e.__context__, getattr(e, "reason", None), *e.args])
    return None


def tls_message(system: str, conn_id: str, verify: bool | str, url: str, reason: str) -> str:
    """The clerk's message for a refused certificate: which system, connection and CA bundle (no secret)."""
    bundle = "系统默认证书库" if verify is True else f"CA 证书文件 {verify}"
    return (f"{system}（连接 {conn_id or '?'}，{url}）的服务器证书未通过校验（{reason}），按 {bundle} 校验。"
            f"重试不会解决：请核对连接 extra 的 ca_bundle 是否为平台前置服务器证书的签发 CA"
            f"（平台常用国产 CA，系统证书库中没有），以及地址的主机名是否与证书一致。")


@dataclass
class RetryPolicy:
    attempts: int = 6
    backoff: float = 0.5
    max_backoff: float = 20.0
    timeout: float = 10.0


class _TokenClient:
    token_path = ""
    system = ""

    def __init__(self, base_url: str, key: str, secret: str, policy: RetryPolicy | None = None,
                 session: requests.Session | None = None, sleep: Callable[[float], None] = time.sleep,
                 verify: bool | str | os.PathLike[str] = True, conn_id: str = ""):
        self.base_url = base_url.rstrip("/")
        self.conn_id = conn_id
        self.verify = check_verify(verify, conn_id)
        self.key = key
        self.secret = secret
        self.policy = policy or RetryPolicy()
        self.session = session or requests.Session()
        self.session.trust_env = False  # never route sandbox/loopback traffic through a proxy
        self.session.verify = self.verify  # (trust_env off: REQUESTS_CA_BUNDLE cannot override it either)
        self._token: str | None = None
        self._sleep = sleep
        self.stats = {"requests": 0, "retries": 0, "token_refreshes": 0}

    def _token_body(self) -> dict[str, str]:
        raise NotImplementedError

    def _parse_token(self, body: dict[str, Any]) -> str:
        raise NotImplementedError

    def _refresh_token(self) -> str:
        resp = self._send("POST", self.token_path, json=self._token_body(), auth=False)
        if resp.status_code != 200:
            raise PlatformError(resp.status_code, _body(resp))
        self._token = self._parse_token(resp.json())
        self.stats["token_refreshes"] += 1
        return self._token

    def _send(self, method: str, path: str, auth: bool = True, headers: dict[str, str] | None = None,
              **kwargs: Any) -> requests.Response:
        """One logical request with retries; returns the final response (2xx, or a non-retryable 4xx)."""
        resp = self._attempts(method, path, auth, headers, kwargs)
        if resp.status_code == 401 and auth:
            # Expired mid-run: get a new token once, then repeat the request with attempts of its own
            # (not counted as a retry); a second 401 is the caller's error.
            self._token = None
            log.info("token rejected (%s); refreshing", _body(resp).get("code") if _is_json(resp) else "")
            resp = self._attempts(method, path, auth, headers, kwargs)
        return resp

    def _attempts(self, method: str, path: str, auth: bool, headers: dict[str, str] | None,
                  kwargs: dict[str, Any]) -> requests.Response:
        p = self.policy

        def attempt() -> requests.Response:
            hdrs = dict(headers or {})  # the same headers (Idempotency-Key) on every attempt
            if auth:
                hdrs["Authorization"] = f"Bearer {self._token or self._refresh_token()}"
            self.stats["requests"] += 1
            try:
                return self.session.request(method, self.base_url + path, headers=hdrs, timeout=p.timeout,
                                            **kwargs)
            except requests.exceptions.SSLError as exc:
                reason = certificate_refusal(exc)
                if reason is None:
                    raise
                # Not a transient error: raised out of the retry loop at once, without a wait.
                raise PlatformTLSError(tls_message(self.system, self.conn_id, self.verify, self.base_url,
                                                   reason)) from None

        def failed(state: tenacity.RetryCallState) -> None:
            self.stats["retries"] += 1
            log.warning("%s %s: %s (attempt %d/%d)", method, path, _failure(state), state.attempt_number, p.attempts)

        def give_up(state: tenacity.RetryCallState) -> requests.Response:
            raise RetriesExhausted(f"{method} {path}: gave up after {p.attempts} attempts: {_failure(state, True)}")

        retrying = tenacity.Retrying(
            retry=tenacity.retry_if_exception_type(TRANSIENT_ERRORS) | tenacity.retry_if_result(_transient),
            stop=tenacity.stop_after_attempt(p.attempts), wait=self._wait, after=failed,
            retry_error_callback=give_up, sleep=self._sleep)
        return retrying(attempt)

    def _wait(self, state: tenacity.RetryCallState) -> float:
        """``Retry-After`` when the answer has one (seconds; an HTTP date falls back to the base backoff),
        else exponential backoff from ``policy.backoff``, capped at ``policy.max_backoff``, jittered ±25 %."""
        outcome = state.outcome
        retry_after = None if outcome is None or outcome.failed else outcome.result().headers.get("Retry-After")
        if retry_after:
            try:
                return float(retry_after)
            except ValueError:
                return self.policy.backoff
        delay = tenacity.wait_exponential(multiplier=self.policy.backoff, max=self.policy.max_backoff)(state)
        return float(delay * (0.75 + random.random() / 2))


#: Errors of the connection (dropped, refused, timed out, cut mid-body) retried like a 5xx. An ``SSLError`` is
#: a ``ConnectionError`` too: a handshake cut short is retried, a certificate refused is not (see ``attempt``).
TRANSIENT_ERRORS = (requests.ConnectionError, requests.Timeout, requests.exceptions.ChunkedEncodingError)


def _transient(resp: requests.Response) -> bool:
    return resp.status_code == 429 or resp.status_code in RETRY_STATUS


def _failure(state: tenacity.RetryCallState, detail: bool = False) -> str:
    """What went wrong in the attempt: the error (its type; with ``detail`` its text too) or the status."""
    outcome = state.outcome
    if outcome is None:
        return "?"
    if outcome.failed:
        exc = outcome.exception()
        return str(exc) if detail else type(exc).__name__
    return f"HTTP {outcome.result().status_code}"


def _is_json(resp: requests.Response) -> bool:
    return "json" in resp.headers.get("content-type", "")


def _body(resp: requests.Response) -> Any:
    try:
        return resp.json()
    except ValueError:
        return {"text": resp.text[:200]}


class PlatformClient(_TokenClient):
    """全国信用信息共享平台 upload API."""

    token_path = "/oauth/token"
    system = "全国信用信息共享平台"

    def _token_body(self) -> dict[str, str]:
        return {"app_key": self.key, "app_secret": self.secret}

    def _parse_token(self, body: dict[str, Any]) -> str:
        return str(body["access_token"])

    def submit_batch(self, kind: str, items: list[dict[str, Any]], idempotency_key: str) -> dict[str, Any]:
        resp = self._send("POST", f"/api/v1/{kind}/batches", json={"records": items},
                          headers={"Idempotency-Key": idempotency_key})
        if resp.status_code != 202:
            raise PlatformError(resp.status_code, _body(resp))
        return dict(resp.json())

    def batch_status(self, batch_id: str) -> dict[str, Any]:
        resp = self._send("GET", f"/api/v1/batches/{batch_id}")
        if resp.status_code != 200:
            raise PlatformError(resp.status_code, _body(resp))
        return dict(resp.json())


class LicensingClient(_TokenClient):
    """行政审批系统 licence API (paging, ``updated_since``)."""

    token_path = "/api/auth/token"
    system = "行政审批系统"

    def _token_body(self) -> dict[str, str]:
        return {"client_id": self.key, "client_secret": self.secret}

    def _parse_token(self, body: dict[str, Any]) -> str:
        return str(body["token"])

    def licences(self, updated_since: str, updated_before: str, page_size: int = 200) -> list[dict[str, Any]]:
        items: list[dict[str, Any]] = []
        page = 1
        while True:
            resp = self._send("GET", "/api/v1/licences", params={
                "updated_since": updated_since, "updated_before": updated_before, "page": page,
                "page_size": page_size})
            if resp.status_code != 200:
                raise PlatformError(resp.status_code, _body(resp))
            body = resp.json()
            items.extend(body["items"])
            if page >= int(body["total_pages"]):
                return items
            page += 1
