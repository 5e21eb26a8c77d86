"""Machine clients of 诚信审核 through Airflow's own API server app (issue #19 §2): a credential issued by
``creditflow clients add`` answers on ``/creditflow/api/integrity`` with every answer audited under the client's
name; rotation keeps the old secret for its grace period only; revocation refuses the next request; the rate
limit answers 429 in Chinese with ``Retry-After``; on every other route — each of the plugin's, found by walking
the app, and each of Airflow's own — the credential is refused (or the route is public and answers it exactly
as it answers nobody); the secret is never in the audit rows or the logs."""

from __future__ import annotations

import io
import json
import logging
import os
import re
import subprocess
import sys
import time
from contextlib import redirect_stdout

import pytest
import sqlalchemy as sa
from creditflow.core import warehouse as wh

pytestmark = [pytest.mark.integration, pytest.mark.slow]

CLEAN, LISTED = "91440400MA51XR7Q0X", "91440400MA4UABCD1N"
ENDPOINT = "/creditflow/api/integrity"


@pytest.fixture(scope="module")
def world(airflow_home, module_db_url):
    subprocess.run([sys.executable, "-m", "airflow", "db", "migrate"], check=True, capture_output=True,
                   env={**os.environ})
    engine = wh.engine_from_url(module_db_url)
    wh.upgrade(engine)
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("AIRFLOW_CONN_CREDITFLOW_DB",
                  json.dumps({"conn_type": "generic", "extra": {"sqlalchemy_url": module_db_url}}))
        mp.delenv("CREDITFLOW_RATE_LIMIT_STORAGE", raising=False)  # memory: this process is the one worker
        from airflow.api_fastapi.app import create_app
        from creditflow_ui import state

        state.close()
        yield {"app": create_app("core"), "engine": engine, "url": module_db_url}
        state.close()


def cli(world, *argv: str) -> tuple[int, str]:
    from creditflow.cli import main

    out = io.StringIO()
    with redirect_stdout(out):
        code = main([*argv, "--db", world["url"]])
    return code, out.getvalue()


def issue(world, client_id: str, *extra: str) -> str:
    code, out = cli(world, "clients", "add", client_id, "--name", "珠海市行政许可审批系统", *extra)
    assert code == 0, out
    credential = out.strip().splitlines()[-1]
    assert re.fullmatch(rf"cfk_{client_id}\.[A-Za-z0-9_-]{{43}}", credential), out
    return credential


def api(world, credential: str):
    from fastapi.testclient import TestClient

    return TestClient(world["app"], headers={"Authorization": f"Bearer {credential}"})


def api_rows(world, asked_by: str, at_least: int) -> list[dict]:
    deadline = time.monotonic() + 15
    while True:
        with world["engine"].connect() as conn:
            rows = [dict(r) for r in conn.execute(sa.select(wh.credit_check_log).where(
                wh.credit_check_log.c.asked_by == asked_by)).mappings()]
        if len(rows) >= at_least or time.monotonic() > deadline:
            return rows
        time.sleep(0.1)


def test_a_client_checks_and_every_answer_is_audited_under_its_name(world, caplog):
    caplog.set_level(logging.DEBUG)
    credential = issue(world, "zh-licensing")
    secret = credential.split(".", 1)[1]
    client = api(world, credential)
    r = client.get(ENDPOINT, params={"code": [CLEAN, LISTED], "purpose": "licensing"})
    assert r.status_code == 200, r.text
    assert [a["verdict"] for a in r.json()["answers"]] == ["pass", "pass"]
    batch = client.post(ENDPOINT, json={"codes": [CLEAN]})
    assert batch.status_code == 200 and batch.json()["answers"][0]["valid"]
    rows = api_rows(world, "client:zh-licensing", 3)
    assert len(rows) == 3 and {r["channel"] for r in rows} == {"api"}
    assert "licensing" in {r["purpose"] for r in rows}
    # the secret is nowhere: not in the registry, the audit rows, the logs
    with world["engine"].connect() as conn:
        stored = [str(v) for row in conn.execute(sa.select(wh.api_client)) for v in row]
        logged = [str(v) for row in conn.execute(sa.select(wh.credit_check_log)) for v in row]
    assert not any(secret in v for v in stored + logged)
    assert secret not in caplog.text
    # a malformed body is 422 in Chinese, after the credential was accepted
    bad = client.post(ENDPOINT, json={"codes": "x"})
    assert bad.status_code == 422 and "请求体应为" in bad.json()["detail"]
    # a person's Airflow token keeps working beside it
    from fastapi.testclient import TestClient

    jwt = TestClient(world["app"]).post("/auth/token", json={"username": "viewer", "password": "viewer"})
    person = api(world, jwt.json()["access_token"])
    assert person.get(ENDPOINT, params={"code": CLEAN}).status_code == 200
    assert api_rows(world, "viewer", 1)


def test_rotation_keeps_the_old_secret_for_its_grace_period_only(world):
    old = issue(world, "zh-procurement")
    code, out = cli(world, "clients", "rotate", "zh-procurement")
    assert code == 0 and "旧凭据有效至" in out
    new = out.strip().splitlines()[-1]
    assert new != old and new.startswith("cfk_zh-procurement.")
    assert api(world, old).get(ENDPOINT, params={"code": CLEAN}).status_code == 200  # within the grace period
    assert api(world, new).get(ENDPOINT, params={"code": CLEAN}).status_code == 200
    code, out = cli(world, "clients", "rotate", "zh-procurement", "--grace-hours", "0")
    newest = out.strip().splitlines()[-1]
    assert code == 0 and "旧凭据立即失效" in out
    for gone in (old, new):
        refused = api(world, gone).get(ENDPOINT, params={"code": CLEAN})
        assert refused.status_code == 401 and "凭据无效" in refused.json()["detail"]
    assert api(world, newest).get(ENDPOINT, params={"code": CLEAN}).status_code == 200


def test_a_revoked_client_is_refused_on_its_next_request(world):
    credential = issue(world, "zh-bidding")
    client = api(world, credential)
    assert client.get(ENDPOINT, params={"code": CLEAN}).status_code == 200
    assert cli(world, "clients", "revoke", "zh-bidding")[0] == 0
    refused = client.get(ENDPOINT, params={"code": CLEAN})
    assert refused.status_code == 401 and refused.headers["www-authenticate"].startswith("Bearer")
    assert client.post(ENDPOINT, json={"codes": [CLEAN]}).status_code == 401
    code, out = cli(world, "clients", "list")
    assert code == 0 and re.search(r"zh-bidding\t.*已吊销", out)
    # an unknown client, a wrong secret, a malformed credential: refused alike
    for wrong in ("cfk_nobody.abc", credential[:-2] + "xx", "cfk_", "cfk_zh-bidding"):
        assert api(world, wrong).get(ENDPOINT, params={"code": CLEAN}).status_code == 401, wrong


def test_over_its_rate_limit_a_client_gets_429_in_chinese_with_retry_after(world):
    client = api(world, issue(world, "zh-slow", "--rate", "3/minute"))
    assert [client.get(ENDPOINT, params={"code": CLEAN}).status_code for _ in range(3)] == [200] * 3
    over = client.get(ENDPOINT, params={"code": CLEAN})
    assert over.status_code == 429 and "请求过于频繁" in over.json()["detail"]
    assert 1 <= int(over.headers["retry-after"]) <= 60
    assert len(api_rows(world, "client:zh-slow", 3)) == 3  # the refused request is no check


def _concrete(path: str) -> str:
    return re.sub(r"\{([^}:]+)(:[^}]+)?\}", lambda m: "x" if not m.group(2) else "x/y", path)


def _routes(app, prefix: str = ""):
    """(method, concrete path) of every route of an app, mounted apps included."""
    from starlette.routing import Mount, Route

    for route in app.routes:
        if isinstance(route, Mount):
            inner = route.app
            if hasattr(inner, "routes"):
                yield from _routes(inner, prefix + route.path)
            else:  # static files
                yield "GET", prefix + route.path + "/style.css"
        elif isinstance(route, Route) or hasattr(route, "methods"):
            for method in sorted(route.methods or {"GET"}):
                if method != "HEAD":
                    yield method, prefix + _concrete(route.path)


def test_a_client_credential_is_refused_on_every_other_plugin_route(world):
    from creditflow_ui import app as plugin_app

    client = api(world, issue(world, "zh-scope"))
    seen = 0
    for method, path in _routes(plugin_app, "/creditflow"):
        if path == ENDPOINT:
            continue
        r = client.request(method, path)
        assert r.status_code == 403, (method, path, r.status_code)
        assert "只能用于诚信审核接口" in r.json()["detail"]
        seen += 1
    assert seen > 20  # pages, forms, downloads, the static mount
    assert client.get("/creditflow/no-such-page").status_code == 403
    assert client.get(ENDPOINT, params={"code": CLEAN}).status_code == 200


def test_airflow_refuses_a_client_credential_or_answers_it_as_nobody(world):
    """Every route of Airflow's own API server app (``/api/v2``, ``/ui``, ``/auth``): with a client credential
    the answer is 403 (Airflow reads it as an invalid token) — unless the route is public, and then it answers
    exactly what it answers a caller with no credential at all."""
    from fastapi.testclient import TestClient

    # Airflow's own faults on junk input (a 500 for an empty body) answer the same with and without a credential
    client = TestClient(world["app"], raise_server_exceptions=False,
                        headers={"Authorization": f"Bearer {issue(world, 'zh-airflow')}"})
    anonymous = TestClient(world["app"], raise_server_exceptions=False)
    refused, public = 0, []
    for method, path in _routes(world["app"]):
        if path.startswith("/creditflow") or method not in ("GET", "POST", "PATCH", "PUT", "DELETE"):
            continue
        if not path.startswith(("/api/v2", "/ui", "/auth")):
            continue
        r = client.request(method, path)
        if r.status_code == 403:
            refused += 1
            continue
        assert r.status_code == anonymous.request(method, path).status_code, (method, path, r.status_code)
        public.append(f"{method} {path} {r.status_code}")
    print(f"Airflow routes: {refused} refused with 403; public, answered as to nobody: {public}")
    assert refused > 50, (refused, public)
    assert client.get("/api/v2/dags").status_code == 403 and client.get("/ui/auth/me").status_code == 403
