"""The platform client's retry discipline, request by request: which answers and errors are retried, how
long it waits (exponential backoff with ±25 % jitter, capped; ``Retry-After`` honoured), how many attempts
it makes, the token refreshed once on 401, and the idempotency key resent unchanged.

The HTTP session is replaced by a script of answers (the client code itself runs unchanged); the sandbox
tests in ``tests/integration/test_faults.py`` cover the same over real HTTP."""

from __future__ import annotations

import json
from typing import Any

import pytest
import requests
from creditflow.core.platform_client import (
    LicensingClient,
    PlatformClient,
    PlatformError,
    RetriesExhausted,
    RetryPolicy,
)


def _resp(status: int, body: Any = None, headers: dict[str, str] | None = None) -> requests.Response:
    r = requests.Response()
    r.status_code = status
    r._content = json.dumps(body if body is not None else {}).encode()
    r.headers["content-type"] = "application/json"
    r.headers.update(headers or {})
    return r


class ScriptedSession:
    """Answers each request with the next item of the script (a Response, or an exception to raise);
    token requests always get a fresh token."""

    def __init__(self, script: list[Any]):
        self.script = list(script)
        self.sent: list[tuple[str, str, dict[str, str]]] = []
        self.tokens = 0
        self.trust_env = True

    def request(self, method: str, url: str, headers: dict[str, str], timeout: float, **kw: Any) -> Any:
        if url.endswith("/oauth/token") or url.endswith("/api/auth/token"):
            self.tokens += 1
            return _resp(200, {"access_token": f"t{self.tokens}", "token": f"t{self.tokens}"})
        self.sent.append((method, url, dict(headers)))
        item = self.script.pop(0)
        if isinstance(item, BaseException):
            raise item
        return item


def _client(script: list[Any], **policy: Any) -> tuple[PlatformClient, ScriptedSession, list[float]]:
    session, sleeps = ScriptedSession(script), []
    client = PlatformClient("http://pf", "k", "s", RetryPolicy(**{"attempts": 6, "backoff": 0.5, **policy}),
                            session=session, sleep=sleeps.append)  # type: ignore[arg-type]
    return client, session, sleeps


ACCEPTED = _resp(202, {"batch_id": "b1"})


@pytest.mark.parametrize("status", [500, 502, 503, 504, 429])
def test_server_errors_and_throttling_are_retried(status):
    client, session, sleeps = _client([_resp(status), _resp(status), ACCEPTED])
    assert client.submit_batch("penalty", [{"a": 1}], "key-1") == {"batch_id": "b1"}
    assert len(session.sent) == 3 and client.stats["retries"] == 2
    assert client.stats["requests"] == 4  # the three tries and the token request
    # backoff 0.5 · 2^(n-1), jitter ×[0.75, 1.25]
    assert 0.375 <= sleeps[0] <= 0.625 and 0.75 <= sleeps[1] <= 1.25 and len(sleeps) == 2


@pytest.mark.parametrize("error", [requests.ConnectionError("dropped"), requests.Timeout("slow"),
                                   requests.exceptions.ChunkedEncodingError("cut")])
def test_dropped_connections_and_timeouts_are_retried(error):
    client, session, sleeps = _client([error, error, ACCEPTED])
    assert client.submit_batch("penalty", [], "key-1") == {"batch_id": "b1"}
    assert len(session.sent) == 3 and client.stats["retries"] == 2 and len(sleeps) == 2


def test_backoff_doubles_up_to_the_cap():
    client, _, sleeps = _client([_resp(503)] * 7 + [ACCEPTED], attempts=8, backoff=1.0, max_backoff=5.0)
    client.submit_batch("penalty", [], "k")
    for n, slept in enumerate(sleeps, 1):
        base = min(5.0, 1.0 * 2 ** (n - 1))
        assert 0.75 * base <= slept <= 1.25 * base, (n, slept)
    assert sleeps[-1] >= 0.75 * 5.0 and max(sleeps) <= 1.25 * 5.0


def test_retry_after_is_honoured_and_an_unreadable_one_falls_back_to_the_base_backoff():
    client, _, sleeps = _client([_resp(429, headers={"Retry-After": "3"}),
                                 _resp(503, headers={"Retry-After": "Wed, 21 Oct 2026 07:28:00 GMT"}), ACCEPTED])
    client.submit_batch("penalty", [], "k")
    assert sleeps == [3.0, 0.5]


def test_the_same_idempotency_key_is_resent_on_every_attempt():
    client, session, _ = _client([_resp(500), requests.ConnectionError("x"), ACCEPTED])
    client.submit_batch("penalty", [], "batch-key-7")
    assert [h["Idempotency-Key"] for _, _, h in session.sent] == ["batch-key-7"] * 3
    assert all(h["Authorization"] == "Bearer t1" for _, _, h in session.sent)


def test_gives_up_after_the_attempts_without_a_last_pointless_wait():
    client, session, sleeps = _client([_resp(500)] * 3, attempts=3)
    with pytest.raises(RetriesExhausted, match=r"gave up after 3 attempts: HTTP 500"):
        client.submit_batch("penalty", [], "k")
    assert len(session.sent) == 3
    assert len(sleeps) == 2  # waits between attempts only: nothing after the last one


def test_gives_up_on_connection_errors_naming_the_last_one():
    client, _, _ = _client([requests.ConnectionError("refused")] * 2, attempts=2)
    with pytest.raises(RetriesExhausted, match="refused"):
        client.submit_batch("penalty", [], "k")


@pytest.mark.parametrize("status", [400, 403, 404, 409, 422])
def test_other_client_errors_are_not_retried(status):
    client, session, sleeps = _client([_resp(status, {"code": "bad"})])
    with pytest.raises(PlatformError) as err:
        client.submit_batch("penalty", [], "k")
    assert err.value.status == status and err.value.body == {"code": "bad"}
    assert len(session.sent) == 1 and sleeps == [] and client.stats["retries"] == 0


def test_an_expired_token_is_refreshed_once_and_the_request_repeated():
    client, session, sleeps = _client([_resp(401, {"code": "token_expired"}), ACCEPTED])
    assert client.submit_batch("penalty", [], "k") == {"batch_id": "b1"}
    assert [h["Authorization"] for _, _, h in session.sent] == ["Bearer t1", "Bearer t2"]
    assert client.stats["token_refreshes"] == 2 and client.stats["retries"] == 0 and sleeps == []


def test_a_second_401_after_the_refresh_is_an_error():
    client, session, _ = _client([_resp(401), _resp(401)])
    with pytest.raises(PlatformError) as err:
        client.submit_batch("penalty", [], "k")
    assert err.value.status == 401 and len(session.sent) == 2


def test_the_refreshed_request_gets_its_own_attempts():
    client, session, _ = _client([_resp(500), _resp(401), _resp(500), ACCEPTED], attempts=2)
    assert client.submit_batch("penalty", [], "k") == {"batch_id": "b1"}
    assert len(session.sent) == 4


def test_the_token_request_is_retried_too():
    session = ScriptedSession([])
    calls = []

    def request(method: str, url: str, headers: dict[str, str], timeout: float, **kw: Any) -> Any:
        calls.append(url)
        if url.endswith("/api/auth/token"):
            return _resp(503) if len(calls) == 1 else _resp(200, {"token": "lic"})
        return _resp(200, {"items": [{"id": 1}], "total_pages": 1})

    session.request = request  # type: ignore[method-assign]
    sleeps: list[float] = []
    client = LicensingClient("http://ls", "k", "s", RetryPolicy(backoff=0.01), session=session,  # type: ignore[arg-type]
                             sleep=sleeps.append)
    assert client.licences("2026-01-01", "2026-01-02") == [{"id": 1}]
    assert calls == ["http://ls/api/auth/token", "http://ls/api/auth/token", "http://ls/api/v1/licences"]
    assert len(sleeps) == 1 and client.stats["token_refreshes"] == 1


def _ssl_error(verify_failed: bool) -> requests.exceptions.SSLError:
    """What requests raises: its SSLError around urllib3's, around the ssl module's."""
    import ssl

    from urllib3.exceptions import MaxRetryError, SSLError

    if verify_failed:
        inner: ssl.SSLError = ssl.SSLCertVerificationError(1, "certificate verify failed")
        inner.verify_message = "unable to get local issuer certificate"  # type: ignore[attr-defined]
    else:
        inner = ssl.SSLEOFError(8, "EOF occurred in violation of protocol")
    return requests.exceptions.SSLError(MaxRetryError(None, "/x", SSLError(inner)))  # type: ignore[arg-type]


def test_a_refused_certificate_is_not_retried_and_names_the_connection_and_bundle():
    from creditflow.core.platform_client import PlatformTLSError

    client, session, sleeps = _client([_ssl_error(True), ACCEPTED])
    client.conn_id = "credit_platform"
    with pytest.raises(PlatformTLSError, match=r"连接 credit_platform.*unable to get local issuer.*系统默认证书库"):
        client.submit_batch("penalty", [], "k1")
    assert len(session.sent) == 1 and sleeps == [] and client.stats["retries"] == 0


def test_a_handshake_cut_short_is_retried_like_a_dropped_connection():
    client, session, sleeps = _client([_ssl_error(False), ACCEPTED])
    assert client.submit_batch("penalty", [], "k1")["batch_id"] == "b1"
    assert len(session.sent) == 2 and len(sleeps) == 1


def test_verification_cannot_be_switched_off(tmp_path):
    with pytest.raises(ValueError, match="不允许关闭"):
        PlatformClient("https://pf", "k", "s", verify=False)
    with pytest.raises(ValueError, match="不存在"):
        PlatformClient("https://pf", "k", "s", verify=str(tmp_path / "none.pem"))
    bundle = tmp_path / "ca.pem"
    bundle.write_text("-----BEGIN CERTIFICATE-----\n")
    assert PlatformClient("https://pf", "k", "s", verify=bundle).session.verify == str(bundle)
