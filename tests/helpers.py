"""Test helpers: sandboxes served in-process on free ports, and a day-by-day driver of the pipeline."""

from __future__ import annotations

import datetime as dt
import socket
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import requests
import uvicorn
from creditflow.core.platform_client import LicensingClient, PlatformClient, RetryPolicy
from creditflow.reporting import pipeline as sgs
from creditflow_sandbox import generator as g

TZ = ZoneInfo("Asia/Shanghai")
ADMIN = {"X-Admin-Token": "sandbox-admin"}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class ServedApp:
    def __init__(self, app: Any):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.app = app
        self.server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=self.port, log_level="critical",
                                                    timeout_keep_alive=2))
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def __enter__(self) -> ServedApp:
        self.thread.start()
        deadline = time.monotonic() + 15
        while not self.server.started:
            if time.monotonic() > deadline:
                raise RuntimeError("sandbox did not start")
            time.sleep(0.05)
        return self

    def __exit__(self, *exc: Any) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)

    def admin(self, method: str, path: str, **kw: Any) -> Any:
        r = requests.request(method, self.url + path, headers=ADMIN, timeout=10, **kw)
        r.raise_for_status()
        return r.json()


def platform_client(url: str, **policy: Any) -> PlatformClient:
    return PlatformClient(url, "creditflow-demo", "demo-secret",
                          RetryPolicy(**{"attempts": 6, "backoff": 0.01, "timeout": 3.0, **policy}))


def licensing_client(url: str) -> LicensingClient:
    return LicensingClient(url, "creditflow", "demo-licensing", RetryPolicy(attempts=6, backoff=0.01, timeout=5))


def run_for(day: dt.date, kind: str, dag_id: str = "sgs_test") -> sgs.Run:
    start = dt.datetime(day.year, day.month, day.day, tzinfo=TZ)
    return sgs.Run(dag_id=f"{dag_id}_{kind}", kind=kind, start=start, end=start + dt.timedelta(days=1))


@dataclass
class World:
    warehouse: Any
    case_db: Any
    inbox: Path
    drop: Path
    platform: ServedApp
    licensing: ServedApp
    manifest: list[dict[str, Any]]


def run_day(world: World, day: dt.date, kinds: tuple[str, ...] = ("penalty", "license", "coercion"),
            client: PlatformClient | None = None, receipt_timeout: float = 15.0) -> dict[str, Any]:
    """What the DAGs do for one data interval: the stage functions their tasks run
    (``pipeline.interval.process_interval`` — prepare, deliver, receipts, reconcile under the interval lock,
    decide under the ledger lock), with the DAGs' options but for the receipt wait, which is waited out here
    instead of deferred. Returns each kind's run summary (with its ``run_key``)."""
    from creditflow.reporting.pipeline import interval

    client = client or platform_client(world.platform.url)
    sources = sgs.Sources(case_db=world.case_db, licensing=licensing_client(world.licensing.url), inbox=world.inbox)
    options = interval.IntervalOptions(receipt_timeout=receipt_timeout)
    out = {}
    for kind in kinds:
        run = run_for(day, kind)
        result = interval.process_interval(run, world.warehouse, sources, client, options)
        out[kind] = {"run_key": run.run_key, **{k: v for k, v in result.items() if k not in ("alert", "seconds")}}
    return out


def deliver_files(world: World, day: dt.date) -> int:
    """Move the district files that arrive on ``day`` (by their file name) from the drop to the kind's
    inbox folder, arriving (file time) at 09:00 that day."""
    return deliver(world.drop, world.inbox, day)


def deliver(drop: Path, inbox: Path, day: dt.date, hour: int = 9) -> int:
    """Files whose arrival day (in the name) is ``day`` or earlier move to ``inbox/<kind>/``, arriving (file
    time) at ``hour`` o'clock on their own arrival day."""
    import os

    n = 0
    for p in sorted(x for x in drop.rglob("*") if x.is_file()):
        parts = p.stem.split("_")
        if len(parts) >= 3 and parts[2] <= day.strftime("%Y%m%d"):
            kind = p.parent.name if p.parent != drop else "penalty"  # the generator writes penalty files
            (inbox / kind).mkdir(parents=True, exist_ok=True)
            target = inbox / kind / p.name
            p.rename(target)
            arrived = dt.datetime.strptime(parts[2], "%Y%m%d").replace(hour=hour, tzinfo=TZ).timestamp()
            os.utime(target, (arrived, arrived))
            n += 1
    return n


def apply_events_until(world: World, moment: dt.datetime) -> int:
    return g.apply_events(world.case_db, g.events_of(world.manifest), until=moment)


def warehouse(url: str) -> Any:
    """A warehouse engine at the latest schema: what `creditflow db upgrade` does at deploy time."""
    from creditflow.core import warehouse as wh

    wh.upgrade(url)
    return wh.engine_from_url(url)


def end_state(engine: Any, platform: ServedApp, kinds: tuple[str, ...] | None = None) -> dict[str, Any]:
    """What two paths over the same days must agree on: the platform's records and operations, and the
    warehouse's ledger, outcomes, run summaries, findings and reviews (as sorted text rows)."""
    import sqlalchemy as sa
    from creditflow.core import warehouse as wh

    records = platform.admin("GET", "/admin/records")["records"]
    out: dict[str, Any] = {
        "platform": sorted((r["kind"], r["natural_key"], r["version"], r["status"], r["content_hash"])
                           for r in records if kinds is None or r["kind"] in kinds),
        "operations": platform.admin("GET", "/admin/stats")["operations"]}
    with engine.connect() as conn:
        def rows(*cols: Any) -> list[tuple[str, ...]]:
            query = sa.select(*cols)
            if kinds is not None:
                query = query.where(cols[0].table.c.kind.in_(kinds))
            return sorted(tuple(str(v) for v in r) for r in conn.execute(query))
        L, Out, S, F, R = wh.ledger, wh.outcomes, wh.run_summary, wh.findings, wh.reviews
        out["ledger"] = rows(L.c.kind, L.c.natural_key, L.c.owner_record_id, L.c.accepted_hash, L.c.platform_status,
                             L.c.state, L.c.run_key)
        out["outcomes"] = rows(Out.c.run_key, Out.c.kind, Out.c.record_id, Out.c.outcome, Out.c.late,
                               Out.c.due_soon, Out.c.due_date)
        out["summaries"] = rows(S.c.run_key, S.c.kind, S.c.extracted, S.c.uploaded, S.c.quarantined,
                                S.c.awaiting_review, S.c.unchanged, S.c.duplicates, S.c.late, S.c.due_soon,
                                S.c.rejected_files, S.c.reconciled)
        out["findings"] = rows(F.c.run_key, F.c.kind, F.c.record_id, F.c.rule_id)
        out["reviews"] = rows(R.c.kind, R.c.record_id, R.c.op, R.c.status)
    return out


def first_trigger_event(trigger: Any) -> dict[str, Any]:
    """The payload of the first event a trigger (``BaseTrigger.run``) yields, run to that point in a fresh loop."""
    import asyncio

    async def first() -> dict[str, Any]:
        async for event in trigger.run():
            return dict(event.payload)
        raise AssertionError("the trigger yielded no event")

    return asyncio.run(first())


def pipeline_env(db_url: str, case_db_url: str, platform_port: int, licensing_port: int, inbox: Path,
                 var: Path) -> dict[str, str]:
    """The environment the DAGs read in a test: the four connections (as a deployment's secrets backend gives
    them), the inbox variable and the var folder — for ``monkeypatch.setenv`` in one loop."""
    import json

    conns = {
        "CREDITFLOW_DB": {"conn_type": "generic", "extra": {"sqlalchemy_url": db_url}},
        "CASE_DB": {"conn_type": "generic", "extra": {"sqlalchemy_url": case_db_url}},
        "CREDIT_PLATFORM": {"conn_type": "http", "host": "127.0.0.1", "port": platform_port, "schema": "http",
                            "login": "creditflow-demo", "password": "demo-secret", "extra": {"backoff": 0.01}},
        "LICENSING_API": {"conn_type": "http", "host": "127.0.0.1", "port": licensing_port, "schema": "http",
                          "login": "creditflow", "password": "demo-licensing"},
    }
    return {**{f"AIRFLOW_CONN_{name}": json.dumps(value) for name, value in conns.items()},
            "AIRFLOW_VAR_CREDITFLOW_INBOX_DIR": str(inbox), "CREDITFLOW_VAR": str(var)}
