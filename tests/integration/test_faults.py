"""The upload survives what the platform does on a bad day, and a worker killed mid-upload: afterwards
the platform holds every valid record exactly once."""

from __future__ import annotations

import datetime as dt
import time

import pytest
from creditflow.core import warehouse as wh
from creditflow.core.platform_client import PlatformClient, RetriesExhausted
from creditflow.reporting import pipeline as sgs
from creditflow_sandbox import generator as g
from creditflow_sandbox import licensing, platform
from helpers import ServedApp, licensing_client, platform_client, run_for
from helpers import warehouse as make_warehouse

pytestmark = pytest.mark.integration
DAY = dt.date(2026, 11, 2)


@pytest.fixture
def setup(tmp_path, db_url):
    cfg = g.GeneratorConfig(seed=11, decisions=40, start=DAY, days=1, person_share=0.0,
                            rates={"missing_required": 0.1})
    g.generate_to(cfg, case_db_url=f"sqlite:///{tmp_path}/case.sqlite", manifest=tmp_path / "m.jsonl")
    manifest = [m for m in g.read_manifest(tmp_path / "m.jsonl") if m["source"] == "case_db" and m["kind"] == "penalty"]
    with ServedApp(platform.create_app(db_url=f"sqlite:///{tmp_path}/pf.sqlite", processing_seconds=0.05)) as pf, \
            ServedApp(licensing.create_app(db_url=f"sqlite:///{tmp_path}/lic.sqlite")) as ls:
        warehouse = make_warehouse(db_url)
        sources = sgs.Sources(case_db=wh.engine_from_url(f"sqlite:///{tmp_path}/case.sqlite"),
                              licensing=licensing_client(ls.url))
        run = run_for(DAY, "penalty")
        sgs.extract(run, warehouse, sources)
        sgs.standardise(run, warehouse)
        sgs.validate(run, warehouse)
        yield pf, warehouse, run, manifest


def _finish(pf, warehouse, run, client):
    sgs.flush_inflight(run, warehouse, client, wait=10, poll=0.05)
    sgs.decide(run, warehouse, batch_size=5)
    sgs.upload(run, warehouse, client)
    deadline = time.monotonic() + 10
    while sgs.collect_receipts(run, warehouse, client)["still_processing"]:
        assert time.monotonic() < deadline
        time.sleep(0.05)
    return sgs.reconcile(run, warehouse)


def _assert_exactly_once(pf, manifest):
    held = pf.admin("GET", "/admin/records?kind=penalty")["records"]
    keys = [r["natural_key"] for r in held]
    assert len(keys) == len(set(keys))
    expected = {m["natural_key"] for m in manifest if m["outcome"] == "uploaded"}
    assert set(keys) == expected
    assert all(r["version"] == 1 for r in held)
    assert pf.admin("GET", "/admin/stats")["operations"] == {"create": len(expected)}


@pytest.mark.parametrize("queue", [["503", "502", "500"], ["429", "429", "429"], ["drop", "drop"],
                                   ["500", "drop", "429", "503"]])
def test_transient_faults(setup, queue):
    pf, warehouse, run, manifest = setup
    pf.admin("POST", "/admin/faults", json={"queue": queue, "retry_after": 1})
    client = platform_client(pf.url)
    summary = _finish(pf, warehouse, run, client)
    assert summary["reconciled"]
    assert client.stats["retries"] >= len(queue) - 1
    assert pf.admin("GET", "/admin/stats")["faults_injected"]
    _assert_exactly_once(pf, manifest)


def test_hang_past_client_timeout(setup):
    pf, warehouse, run, manifest = setup
    pf.admin("POST", "/admin/faults", json={"queue": ["hang"], "hang_seconds": 3})
    client = platform_client(pf.url, timeout=1.0)
    _finish(pf, warehouse, run, client)
    assert client.stats["retries"] >= 1
    _assert_exactly_once(pf, manifest)


def test_token_expires_mid_run(setup):
    pf, warehouse, run, manifest = setup
    client = platform_client(pf.url)
    sgs.flush_inflight(run, warehouse, client, wait=5, poll=0.05)
    sgs.decide(run, warehouse, batch_size=5)
    sgs.upload(run, warehouse, client)
    pf.admin("POST", "/admin/expire-tokens")
    while sgs.collect_receipts(run, warehouse, client)["still_processing"]:
        time.sleep(0.05)
    assert client.stats["token_refreshes"] == 2
    sgs.reconcile(run, warehouse)
    _assert_exactly_once(pf, manifest)


def test_persistent_outage_fails_loudly_and_resumes(setup):
    pf, warehouse, run, manifest = setup
    pf.admin("POST", "/admin/faults", json={"error_rate": 1.0})
    client = platform_client(pf.url, attempts=3)
    with pytest.raises(RetriesExhausted):
        _finish(pf, warehouse, run, client)
    pf.admin("POST", "/admin/faults", json={"error_rate": 0.0})
    _finish(pf, warehouse, run, platform_client(pf.url))  # the task's retry
    _assert_exactly_once(pf, manifest)


class _Killed(BaseException):
    """A worker dying (SIGKILL, OOM) — not an Exception the code could catch and tidy up after."""


class _DiesAfterSending(PlatformClient):
    def __init__(self, *a, die_on: int, **kw):
        super().__init__(*a, **kw)
        self.die_on = die_on
        self.calls = 0

    def submit_batch(self, kind, items, idempotency_key):
        answer = super().submit_batch(kind, items, idempotency_key)
        self.calls += 1
        if self.calls == self.die_on:  # the platform has the batch; the ledger never hears back
            raise _Killed()
        return answer


@pytest.mark.parametrize("die_on", [1, 3])
def test_worker_killed_mid_upload_then_retried(setup, die_on):
    pf, warehouse, run, manifest = setup
    client = _DiesAfterSending(pf.url, "creditflow-demo", "demo-secret", die_on=die_on)
    sgs.flush_inflight(run, warehouse, client, wait=5, poll=0.05)
    sgs.decide(run, warehouse, batch_size=5)
    with pytest.raises(_Killed):
        sgs.upload(run, warehouse, client)
    # Airflow retries the task group: the run starts again from flush_inflight.
    summary = _finish(pf, warehouse, run, platform_client(pf.url))
    assert summary["reconciled"]
    _assert_exactly_once(pf, manifest)
