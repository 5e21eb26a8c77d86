"""Sign-ins through the API are rate-limited (creditflow_ui.loginlimit), per address and login name."""

from __future__ import annotations

import asyncio
import json

import pytest
from creditflow_ui import loginlimit


def _call(mw, path: str, body: dict, client: str = "10.0.0.1", method: str = "POST") -> tuple[int, dict, bytes]:
    seen: list = []
    sent: dict = {}

    async def run() -> None:
        data = json.dumps(body).encode()
        chunks = [{"type": "http.request", "body": data[:5], "more_body": True},
                  {"type": "http.request", "body": data[5:], "more_body": False}]

        async def receive():
            return chunks.pop(0)

        async def send(message):
            if message["type"] == "http.response.start":
                sent["status"], sent["headers"] = message["status"], dict(message["headers"])
            else:
                sent["body"] = message.get("body", b"")

        scope = {"type": "http", "method": method, "path": path, "client": (client, 1234),
                 "headers": [(b"content-type", b"application/json")]}
        await mw(scope, receive, send)

    async def app(scope, receive, send):  # the auth manager: reads the whole body it was sent
        body = b""
        while True:
            message = await receive()
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
        seen.append(json.loads(body))
        await send({"type": "http.response.start", "status": 201, "headers": []})
        await send({"type": "http.response.body", "body": b"{}"})

    mw = loginlimit.TokenRateLimit(app) if mw is None else mw
    mw.app = app
    asyncio.run(run())
    return sent["status"], sent.get("headers", {}), seen[0] if seen else None


@pytest.fixture
def limited(monkeypatch):
    monkeypatch.setenv("CREDITFLOW_TOKEN_RATE_LIMIT", "3 per minute")
    monkeypatch.setenv("CREDITFLOW_TOKEN_RATE_LIMIT_ADDRESS", "5 per minute")
    monkeypatch.delenv("CREDITFLOW_RATELIMIT_STORAGE", raising=False)
    return loginlimit.TokenRateLimit(None)


def test_one_name_from_one_address_is_refused_after_its_limit_and_the_body_reaches_the_app_unchanged(limited):
    body = {"username": "chief", "password": "guess"}
    codes = [_call(limited, "/auth/token", body) for _ in range(4)]
    assert [c[0] for c in codes[:3]] == [201, 201, 201] and codes[0][2] == body
    status, headers, reached = codes[3]
    assert status == 429 and reached is None and int(headers[b"retry-after"]) >= 1
    assert _call(limited, "/auth/token", {"username": "viewer", "password": "x"})[0] == 201  # another name
    assert _call(limited, "/auth/token", body, client="10.0.0.2")[0] == 201  # another address


def test_many_names_from_one_address_hit_the_address_limit(limited):
    codes = [_call(limited, "/auth/token/cli", {"username": f"u{i}", "password": "x"})[0] for i in range(6)]
    assert codes == [201] * 5 + [429]


def test_other_requests_pass_uncounted(limited):
    for _ in range(10):
        assert _call(limited, "/api/v2/dags", {"username": "chief"})[0] == 201
        assert _call(limited, "/auth/token", {"username": "chief"}, method="GET")[0] == 201
    assert _call(limited, "/auth/token", {"username": "chief", "password": "x"})[0] == 201
