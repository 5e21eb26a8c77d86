"""PlatformReceiptsTrigger (include/creditflow_airflow/triggers.py) against the platform sandbox, run on an
event loop as the triggerer runs it: it reads the connection itself (its kwargs hold no secret), fires
``done`` once every batch is done, ``timeout`` at its deadline and ``error`` when the platform refuses the
key for good."""

from __future__ import annotations

import json
import time

import pytest
from creditflow_airflow.triggers import PlatformReceiptsTrigger
from creditflow_sandbox import platform
from helpers import ServedApp, first_trigger_event, platform_client

pytestmark = [pytest.mark.integration]


@pytest.fixture
def pf(tmp_path, monkeypatch):
    with ServedApp(platform.create_app(db_url=f"sqlite:///{tmp_path}/pf.sqlite", processing_seconds=1.0)) as app:
        conn = {"conn_type": "http", "host": "127.0.0.1", "port": app.port, "schema": "http",
                "login": "creditflow-demo", "password": "demo-secret"}
        monkeypatch.setenv("AIRFLOW_CONN_CREDIT_PLATFORM", json.dumps(conn))
        yield app


def _batch(app) -> str:
    client = platform_client(app.url)
    return str(client.submit_batch("penalty", [{"op": "create", "data": {}}], f"k{time.time_ns()}")["batch_id"])


def test_fires_done_when_every_batch_is_done(pf):
    batches = [_batch(pf), _batch(pf)]
    trigger = PlatformReceiptsTrigger(kind="penalty", batch_ids=batches, deadline=time.time() + 30,
                                      first_pause=0.2, echo={"waits": 0})
    assert "demo-secret" not in json.dumps(trigger.serialize())
    event = first_trigger_event(trigger)
    assert event["status"] == "done" and event["processing"] == 0 and event["batches"] == 2
    assert event["polls"] >= 2 and 0.8 <= event["waited"] < 10 and event["echo"] == {"waits": 0}


def test_fires_timeout_at_its_deadline(pf):
    pf.admin("POST", "/admin/faults", json={"processing_seconds": 60})
    event = first_trigger_event(PlatformReceiptsTrigger(kind="penalty", batch_ids=[_batch(pf)], deadline=time.time() + 1.5,
                                                 first_pause=0.2))
    assert event["status"] == "timeout" and event["processing"] == 1 and event["waited"] < 5


def test_fires_error_when_the_platform_refuses_the_key(pf, monkeypatch):
    batch = _batch(pf)
    conn = {"conn_type": "http", "host": "127.0.0.1", "port": pf.port, "login": "creditflow-demo", "password": "wrong"}
    monkeypatch.setenv("AIRFLOW_CONN_CREDIT_PLATFORM", json.dumps(conn))
    event = first_trigger_event(PlatformReceiptsTrigger(kind="penalty", batch_ids=[batch], deadline=time.time() + 30))
    assert event["status"] == "error" and event["message"].startswith("token: HTTP 4")
