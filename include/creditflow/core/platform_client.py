"""HTTP client of the shared credit platform (and of the licensing system), with the retry discipline
the real systems need: token refresh when it expires mid-run, retries with exponential backoff on
5xx / timeouts / dropped connections, ``Retry-After`` honoured on 429.

No Airflow here: the Airflow hooks in ``plugins/`` build these clients from connections.
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import requests

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


@dataclass
class RetryPolicy:
    attempts: int = 6
    backoff: float = 0.5
    max_backoff: float = 20.0
    timeout: float = 10.0


class _TokenClient:
    token_path = ""

    def __init__(self, base_url: str, key: str, secret: str, policy: RetryPolicy | None = None,
                 session: requests.Session | None = None, sleep: Callable[[float], None] = time.sleep):
        self.base_url = base_url.rstrip("/")
        self.key = key
        self.secret = secret
        self.policy = policy or RetryPolicy()
        self.session = session or requests.Session()
        self.session.trust_env = False  # never route sandbox/loopback traffic through a proxy
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
              _refreshed: bool = False, **kwargs: Any) -> requests.Response:
        """One logical request with retries; returns the final response (2xx, or a non-retryable 4xx)."""
        p = self.policy
        last_error: Exception | None = None
        refreshed = _refreshed
        for attempt in range(1, p.attempts + 1):
            hdrs = dict(headers or {})
            if auth:
                hdrs["Authorization"] = f"Bearer {self._token or self._refresh_token()}"
            self.stats["requests"] += 1
            try:
                resp = self.session.request(method, self.base_url + path, headers=hdrs, timeout=p.timeout, **kwargs)
            except (requests.ConnectionError, requests.Timeout, requests.exceptions.ChunkedEncodingError) as exc:
                last_error = exc
                log.warning("%s %s: %s (attempt %d/%d)", method, path, type(exc).__name__, attempt, p.attempts)
                self._pause(attempt, None)
                continue
            if resp.status_code == 401 and auth and not refreshed:
                # Expired mid-run: get a new token once, then repeat the request (not counted as a retry).
                refreshed = True
                self._token = None
                log.info("token rejected (%s); refreshing", _body(resp).get("code") if _is_json(resp) else "")
                return self._send(method, path, auth=auth, headers=headers, _refreshed=True, **kwargs)
            if resp.status_code == 429 or resp.status_code in RETRY_STATUS:
                last_error = RuntimeError(f"HTTP {resp.status_code}")
                log.warning("%s %s: HTTP %d (attempt %d/%d)", method, path, resp.status_code, attempt, p.attempts)
                self._pause(attempt, resp.headers.get("Retry-After"))
                continue
            return resp
        raise RetriesExhausted(f"{method} {path}: gave up after {p.attempts} attempts: {last_error}")

    def _pause(self, attempt: int, retry_after: str | None) -> None:
        self.stats["retries"] += 1
        if retry_after:
            try:
                delay = float(retry_after)
            except ValueError:
                delay = self.policy.backoff
        else:
            delay = min(self.policy.max_backoff, self.policy.backoff * 2 ** (attempt - 1))
            delay *= 0.75 + random.random() / 2  # jitter
        self._sleep(delay)


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
