"""``make cluster`` for real: the 双公示 DAG on the CeleryExecutor — PostgreSQL metadata DB, Redis broker,
api-server, scheduler, dag-processor, triggerer and two Celery workers, started by ``scripts/cluster.py``
with one shared configuration. Three days of ``sgs_penalty`` run as one backfill; the tasks spread over
both workers; in the third day's upload one worker is SIGKILLed while the platform is slow (its fault
knobs), and the run completes on the other worker with the platform holding every record exactly once.

Needs PostgreSQL (``CREDITFLOW_TEST_DATABASE_URL``'s server, else 127.0.0.1:5432 as postgres) and
``redis-server`` (or a Redis at 127.0.0.1:6379); CI has both, so there the test never skips.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest
import sqlalchemy as sa
from creditflow.core import warehouse as wh
from creditflow_sandbox import generator as g
from creditflow_sandbox import platform
from helpers import ServedApp, end_state, platform_client, warehouse

pytestmark = [pytest.mark.integration, pytest.mark.slow]

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "scripts"))
import cluster as cl  # noqa: E402

DAYS = [dt.date(2026, 11, 2), dt.date(2026, 11, 3), dt.date(2026, 11, 4)]
DAG = "sgs_penalty"
UPLOAD = "deliver"  # the day's upload task: flush in-flight → decide → 临期预警 → upload


def _unavailable(reason: str) -> None:
    if os.environ.get("CI"):
        pytest.fail(f"CI must provide the cluster's services: {reason}")
    pytest.skip(reason)


def _midnight(day: dt.date) -> str:
    return f"{day.isoformat()}T00:00:00+08:00"


def _settings(tmp: Path) -> cl.Settings:
    pg = os.environ.get("CREDITFLOW_TEST_DATABASE_URL") or "postgresql://postgres@127.0.0.1:5432/postgres"
    pg = pg.split("?", 1)[0]
    parts = sa.engine.make_url(pg)
    if not cl.port_open(parts.host or "127.0.0.1", parts.port or 5432):
        _unavailable(f"no PostgreSQL at {parts.host}:{parts.port}")
    if shutil.which("redis-server"):
        redis_url = None  # an own redis-server on a free port: no other test or cluster shares the queue
    elif cl.redis_reachable("redis://127.0.0.1:6379/0"):
        redis_url = f"redis://127.0.0.1:6379/{9 + uuid.uuid4().int % 6}"
    else:
        _unavailable("neither redis-server nor a Redis at 127.0.0.1:6379")
    ports = [cl.free_port() for _ in range(5)]
    return cl.Settings(name=f"cf_cluster_{uuid.uuid4().hex[:8]}", home=tmp / "home", var=tmp / "var", port=ports[0],
                       pg_url=pg, redis_url=redis_url, redis_port=ports[1], worker_log_ports=(ports[2], ports[3]),
                       trigger_log_port=ports[4], heartbeat_timeout=20,
                       # the schedule itself creates no run at all: its first interval starts tomorrow in the
                       # bureau's time zone (today's UTC date is a day behind from 08:00 to 24:00 there, and the
                       # interval of "today" UTC would become due at 06:00 there)
                       sgs_start=(dt.datetime.now(dt.timezone(dt.timedelta(hours=8))).date()
                                  + dt.timedelta(days=1)).isoformat())


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("cluster")
    settings = _settings(tmp)
    # Natural persons' penalties wait in 审核 (every level, no reviewer acts here): the runbook backfill at
    # the end must leave them as they are.
    cfg = g.GeneratorConfig(seed=5, decisions=40, start=DAYS[0], days=len(DAYS), horizon=DAYS[-1],
                            person_share=0.3, rates={"missing_required": 0.1})
    # District files land in the inbox with their arrival time: each day's run claims its own.
    g.generate_to(cfg, case_db_url=f"sqlite:///{tmp}/case.sqlite", inbox=tmp / "inbox", manifest=tmp / "m.jsonl")
    shutil.copytree(tmp / "inbox", tmp / "inbox-as-delivered")  # copy2: arrival times kept, for the comparison
    manifest = [m for m in g.read_manifest(tmp / "m.jsonl") if m["kind"] == "penalty"]
    with ServedApp(platform.create_app(db_url=f"sqlite:///{tmp}/pf.sqlite", processing_seconds=0.2)) as pf:
        settings.extra_env = {
            **cl.connections_env(settings.warehouse_url, f"sqlite:///{tmp}/case.sqlite", pf.port, cl.free_port(),
                                 tmp / "inbox"),
            "AIRFLOW_VAR_CREDITFLOW_UPLOAD_BATCH_SIZE": "2",  # several batches a day: an upload to interrupt
        }
        cluster = cl.Cluster(settings)
        started = time.monotonic()
        try:
            cluster.prepare()
            cluster.start_all()
            cluster.wait_ready(timeout=240)
            api = cl.Api(settings.api_url)
            api.wait_for_dags([DAG])
            api.unpause(DAG)
            print(f"cluster prepared and ready in {time.monotonic() - started:.0f}s")
            yield {"cluster": cluster, "api": api, "pf": pf, "manifest": manifest, "settings": settings,
                   "tmp": tmp, "observed": _drive(cluster, api, pf)}
        except BaseException:
            print(f"cluster logs: {settings.home / 'logs'}")
            raise
        finally:
            pids = [p.pid for p in cluster.procs.values()]
            cluster.stop()
            assert not [pid for pid in pids if cl._group_alive(pid)], "the cluster left processes behind"


def _run_ids(api: cl.Api) -> dict[str, str]:
    runs = api.json(f"/dags/{DAG}/dagRuns", limit=50)["dag_runs"]
    by_day = {}
    for r in runs:
        start = dt.datetime.fromisoformat(r["data_interval_start"]).astimezone(dt.timezone(dt.timedelta(hours=8)))
        by_day[start.date().isoformat()] = r
    return by_day


def _task(api: cl.Api, run_id: str, task_id: str) -> dict:
    r = api.call("GET", f"/dags/{DAG}/dagRuns/{run_id}/taskInstances/{task_id}")
    return r.json() if r.ok else {}


def _drive(cluster: cl.Cluster, api: cl.Api, pf: ServedApp) -> dict:
    """One backfill of the three days (one run at a time). When the last day's upload is in flight on a
    slow platform and has sent its first batch, SIGKILL the worker running it."""
    r = api.call("POST", "/backfills", json={"dag_id": DAG, "from_date": _midnight(DAYS[0]),
                                             "to_date": _midnight(DAYS[-1]), "max_active_runs": 1,
                                             "reprocess_behavior": "none", "run_backwards": False})
    assert r.ok, r.text
    last = DAYS[-1].isoformat()
    observed: dict = {}
    deadline = time.monotonic() + 600
    while time.monotonic() < deadline:
        cluster.check_alive()
        runs = _run_ids(api)
        run = runs.get(last)
        if run and not observed.get("slowed") and run["state"] == "running":
            observed["batches_before"] = pf.admin("GET", "/admin/stats")["batches"]
            pf.admin("POST", "/admin/faults", json={"latency_ms": 2500})  # every platform call takes 2.5 s
            observed["slowed"] = True
        if run and observed.get("slowed") and not observed.get("killed"):
            ti = _task(api, run["dag_run_id"], UPLOAD)
            sent = pf.admin("GET", "/admin/stats")["batches"] - observed["batches_before"]
            if ti.get("state") == "success":
                pytest.fail("the upload finished before it could be interrupted")
            if ti.get("state") == "running" and ti.get("hostname") and sent >= 1:
                victim = ti["hostname"].split(".", 1)[0]
                cluster.kill(victim)
                pf.admin("POST", "/admin/faults", json={"latency_ms": 0})
                observed.update(killed=victim, killed_try=ti["try_number"], sent_before_kill=sent,
                                killed_at=time.monotonic())
        if run and observed.get("killed") and run["state"] in ("success", "failed"):
            observed["recovered_in"] = time.monotonic() - observed["killed_at"]
            print(f"three days in {time.monotonic() - (deadline - 600):.0f}s; the killed upload's run finished "
                  f"{observed['recovered_in']:.0f}s after the kill")
            observed["runs"] = runs
            return observed
        time.sleep(1)
    pytest.fail(f"the runs did not finish: {observed}, {_run_ids(api)}")


def _published_by_the_manifest(manifest: list[dict]) -> set[str]:
    """What the platform must hold: every decision the generator meant to be uploaded, but for natural persons'
    (review policy ``natural_person``: both levels by a reviewer, and nobody reviews in this test)."""
    return {m["natural_key"] for m in manifest if m["outcome"] == "uploaded" and m.get("review") != "natural_person"}


def _hostnames(api: cl.Api, run_id: str) -> dict[str, str]:
    tis = api.json(f"/dags/{DAG}/dagRuns/{run_id}/taskInstances", limit=100)["task_instances"]
    return {t["task_id"]: (t.get("hostname") or "").split(".", 1)[0] for t in tis}


def test_every_day_runs_green_on_the_celery_executor(world):
    runs = world["observed"]["runs"]
    assert {day: runs[day.isoformat()]["state"] for day in DAYS} == {day: "success" for day in DAYS}
    engine = wh.engine_from_url(world["settings"].warehouse_url)
    with engine.connect() as conn:
        summaries = conn.execute(sa.select(wh.run_summary)).mappings().all()
    engine.dispose()
    assert len(summaries) == len(DAYS) and all(s["reconciled"] for s in summaries)


# What a Celery worker logs when it starts a task try: the try's log path names DAG, run, task and try.
_EXECUTING = re.compile(r"Executing workload in Celery: .*?log_path='dag_id=(?P<dag>[^/']+)/run_id=(?P<run>[^/']+)/"
                        r"task_id=(?P<task>[^/']+)/(?:map_index=-?\d+/)?attempt=(?P<try>\d+)\.log'")


def _executed(log: Path, dag_id: str) -> set[tuple[str, str, int]]:
    """(run id, task id, try number) of every try of ``dag_id`` that a worker's own log says it started."""
    text = log.read_text(encoding="utf-8", errors="replace") if log.exists() else ""
    return {(m["run"], m["task"], int(m["try"])) for m in _EXECUTING.finditer(text) if m["dag"] == dag_id}


def test_tasks_ran_on_both_workers(world):
    """Who ran what, from two sides that must agree try for try: the hostname Airflow recorded for every try
    of every day, and each Celery worker's own log of the tries it started. Every try ran on exactly one
    worker, the one Airflow names (the kill test picks its victim by that name), and both workers ran tries.
    (Which worker takes the first days is the queue's choice; the kill then forces the retry onto the other.
    Before, this test only collected the hostnames Airflow recorded, which the kill makes two by construction.)"""
    api, runs = world["api"], world["observed"]["runs"]
    recorded: dict[tuple[str, str, int], str] = {}
    for day in DAYS:
        run_id = runs[day.isoformat()]["dag_run_id"]
        for task_id in _hostnames(api, run_id):
            tries = api.json(f"/dags/{DAG}/dagRuns/{run_id}/taskInstances/{task_id}/tries")["task_instances"]
            for t in tries:
                recorded[(run_id, task_id, t["try_number"])] = (t.get("hostname") or "").split(".", 1)[0]
    logs = world["settings"].home / "logs"
    executed = {w: _executed(logs / f"{w}.log", DAG) for w in ("worker-1", "worker-2")}
    assert executed["worker-1"] and executed["worker-2"], executed
    workers: dict[tuple[str, str, int], set[str]] = {}
    for w, keys in executed.items():
        for key in keys:
            workers.setdefault(key, set()).add(w)
    # A deferred try (``receipts`` waiting for the platform) resumes on whichever worker is free: that one
    # try may show on both; every other try ran on exactly one.
    assert all(len(ws) == 1 or key[1] == "receipts" for key, ws in workers.items()), "a try ran on both workers"
    assert set(workers) == set(recorded) and all(recorded[key] in ws for key, ws in workers.items())
    assert len(recorded) >= len(DAYS) + 1  # a try a day, and the killed upload's retry


def test_killed_upload_completes_on_the_other_worker_exactly_once(world):
    api, pf, observed = world["api"], world["pf"], world["observed"]
    run_id = observed["runs"][DAYS[-1].isoformat()]["dag_run_id"]
    victim = observed["killed"]
    survivor = {"worker-1", "worker-2"}.difference({victim}).pop()
    assert observed["sent_before_kill"] >= 1  # killed in the middle: the platform already had a batch
    upload = _task(api, run_id, UPLOAD)
    assert upload["state"] == "success" and upload["try_number"] > observed["killed_try"]
    assert upload["hostname"].split(".", 1)[0] == survivor
    tries = api.json(f"/dags/{DAG}/dagRuns/{run_id}/taskInstances/{UPLOAD}/tries")["task_instances"]
    first = next(t for t in tries if t["try_number"] == observed["killed_try"])
    assert first["state"] == "failed" and first["hostname"].split(".", 1)[0] == victim
    # Every record exactly once: one create per natural key, the ledger agrees, the manifest's truth.
    held = pf.admin("GET", "/admin/records?kind=penalty")["records"]
    keys = [r["natural_key"] for r in held]
    assert len(keys) == len(set(keys)) and all(r["version"] == 1 for r in held)
    assert pf.admin("GET", "/admin/stats")["operations"] == {"create": len(keys)}
    assert set(keys) == _published_by_the_manifest(world["manifest"])
    engine = wh.engine_from_url(world["settings"].warehouse_url)
    with engine.connect() as conn:
        ledger = conn.execute(sa.select(wh.ledger.c.natural_key, wh.ledger.c.state, wh.ledger.c.platform_status)
                              .where(wh.ledger.c.kind == "penalty")).all()
        uploaded = conn.execute(sa.select(sa.func.sum(wh.run_summary.c.uploaded))).scalar_one()
    engine.dispose()
    assert {k for k, state, status in ledger if state == "accepted" and status == "published"} == set(keys)
    assert uploaded == len(keys)
    print(f"worker {victim} killed after {observed['sent_before_kill']} batch(es); the run completed on "
          f"{survivor} {observed['recovered_in']:.0f}s later")


def test_the_backfill_ends_where_day_by_day_runs_end(world, tmp_path):
    """The backfill on the cluster — its killed and retried upload included — against the same three days
    run one after another in one process through the scheduled task's own function (``process_interval``),
    on a fresh warehouse and platform: the same ledger, outcomes, findings, reviews, run summaries and
    platform content, each record sent once."""
    from creditflow.reporting import pipeline as sgs
    from creditflow.reporting.pipeline import interval

    shutil.copytree(world["tmp"] / "inbox-as-delivered", tmp_path / "inbox")
    engine = warehouse(f"sqlite:///{tmp_path}/warehouse.sqlite")
    case_db = wh.engine_from_url(f"sqlite:///{world['tmp']}/case.sqlite")
    with ServedApp(platform.create_app(db_url=f"sqlite:///{tmp_path}/pf.sqlite", processing_seconds=0.05)) as pf:
        sources = sgs.Sources(case_db=case_db, inbox=tmp_path / "inbox")
        for day in DAYS:
            out = interval.process_interval(interval.interval_run("penalty", day), engine, sources,
                                            platform_client(pf.url), interval.IntervalOptions(batch_size=2))
            assert out["reconciled"]
        expected = end_state(engine, pf)
    cluster_warehouse = wh.engine_from_url(world["settings"].warehouse_url)
    got = end_state(cluster_warehouse, world["pf"])
    for engine_ in (engine, case_db, cluster_warehouse):
        engine_.dispose()
    assert sum(int(s[3]) for s in expected["summaries"]) > 5  # records went up: the comparison has teeth
    for part in ("platform", "operations", "ledger", "outcomes", "summaries", "findings", "reviews"):
        assert got[part] == expected[part], part


def test_cluster_stop_stops_what_was_recorded(tmp_path, monkeypatch):
    """``make cluster-stop`` from another shell: every recorded process group ends, a pid that is no longer
    the recorded process (reused) is left alone, and the record is removed."""
    procs = {name: subprocess.Popen(["sleep", "300"], start_new_session=True) for name in ("scheduler", "worker-1")}
    ignores_term = subprocess.Popen([sys.executable, "-c", "import signal, time; "
                                     "signal.signal(signal.SIGTERM, signal.SIG_IGN); time.sleep(300)"],
                                    start_new_session=True)
    time.sleep(0.3)
    state = {"controller": {}, "settings": {"keep_db": True},
             "processes": {**{n: {"pid": p.pid, "start": cl._start_time(p.pid)} for n, p in procs.items()},
                           "triggerer": {"pid": ignores_term.pid, "start": cl._start_time(ignores_term.pid)},
                           "stale": {"pid": os.getpid(), "start": "not-this-process"}}}
    (tmp_path / "cluster.json").write_text(json.dumps(state))
    real_stop = cl.stop_processes
    monkeypatch.setattr(cl, "stop_processes", lambda pids, grace=30: real_stop(pids, grace=2))
    assert cl.stop_recorded(tmp_path) == 0
    for p in [*procs.values(), ignores_term]:
        assert p.wait(timeout=5) in (-signal.SIGTERM, -signal.SIGKILL)
    assert ignores_term.returncode == -signal.SIGKILL
    assert not (tmp_path / "cluster.json").exists()


def test_lineage_traces_records_from_source_to_receipt(world):
    """OpenLineage events (file transport) of the runs on the workers: one chain of datasets from the case
    system's table and the district inbox through staging, validation and the ledger to the platform and
    its receipts, every step tagged with the warehouse's run key — no credentials in any event."""
    text = (world["settings"].home / "openlineage" / "events.jsonl").read_text(encoding="utf-8")
    assert "demo-secret" not in text
    events = [json.loads(line) for line in text.splitlines()]
    key = f"{DAG}|{DAYS[0].isoformat()}"
    done = {e["job"]["name"].rsplit(".", 1)[-1]: e for e in events if e["eventType"] == "COMPLETE"
            and (e["run"]["facets"].get("creditflow") or {}).get("runKey") == key}

    def names(step: str, side: str) -> set[str]:
        return {d["name"].rsplit(".", 1)[-1] if d["namespace"].startswith("postgres") else d["name"]
                for d in done[step][side]}

    # The day's four tasks name their steps' datasets (creditflow_airflow/lineage.py TASKS): sources in and
    # staging out at prepare, the ledger and the platform's batches at deliver, receipts, the run summary.
    assert {"penalty_decision", str(world["settings"].var.parent / "inbox" / "penalty")} <= names("prepare", "inputs")
    assert {"cf_staging", "cf_std", "cf_finding"} <= names("prepare", "outputs")
    assert {"cf_outcome", "cf_ledger", "cf_ledger_history", "/api/v1/penalty/batches"} <= names("deliver", "outputs")
    assert "/api/v1/batches" in names("receipts", "inputs")
    assert "cf_run_summary" in names("reconcile", "outputs")
    assert {t: done[t]["run"]["facets"]["creditflow"]["step"] for t in ("prepare", "deliver", "receipts", "reconcile")} \
        == {t: t for t in ("prepare", "deliver", "receipts", "reconcile")}
    # A record's own rows carry the same run key and its source row (file#row or the case's number).
    engine = wh.engine_from_url(world["settings"].warehouse_url)
    with engine.connect() as conn:
        staged = conn.execute(sa.select(wh.staging.c.run_key, wh.staging.c.lineage)
                              .where(wh.staging.c.run_key == key)).all()
    engine.dispose()
    assert staged and all(lineage for _, lineage in staged)


# --- The README's runbook backfill on the cluster (issue #17 "Done when") --------------------------------


def _held(engine: sa.Engine, pf: ServedApp) -> dict:
    """What a backfill must not change: the review queue (every row), the ledger (every column), what the
    platform holds and every operation it was ever sent."""
    with engine.connect() as conn:
        reviews = sorted(tuple(str(v) for v in r) for r in conn.execute(sa.select(wh.reviews)))
        ledger = sorted(tuple(str(v) for v in r) for r in conn.execute(sa.select(wh.ledger)))
        pending = sorted(conn.execute(sa.select(wh.reviews.c.record_id).where(wh.reviews.c.status == "pending"))
                         .scalars())
    stats = pf.admin("GET", "/admin/stats")
    held = sorted((r["natural_key"], r["version"], r["status"], r["content_hash"])
                  for r in pf.admin("GET", "/admin/records?kind=penalty")["records"])
    return {"reviews": reviews, "pending": pending, "ledger": ledger, "platform": held, "operations": stats["operations"],
            "batches": stats["batches"]}


@pytest.fixture(scope="module")
def runbook_backfill(world):
    """After every other test of the module has looked at the first backfill: the runbook's
    ``backfill create … --reprocess-behavior completed`` over the same three days (natural persons' records
    waiting in 审核), through the REST API, on the surviving worker; then the state and the pages."""
    api, pf, settings = world["api"], world["pf"], world["settings"]
    engine = wh.engine_from_url(settings.warehouse_url)
    try:
        deadline = time.monotonic() + 120  # the scheduler marks the first backfill completed after its last run
        while any(not b.get("completed_at") for b in api.send("GET", "/backfills", params={"dag_id": DAG})["backfills"]):
            assert time.monotonic() < deadline, "the first backfill was never marked completed"
            time.sleep(1)
        before = _held(engine, pf)
        r = api.call("POST", "/backfills", json={"dag_id": DAG, "from_date": _midnight(DAYS[0]),
                                                 "to_date": _midnight(DAYS[-1]), "max_active_runs": 1,
                                                 "reprocess_behavior": "completed", "run_backwards": False})
        assert r.ok, r.text
        backfill = r.json()["id"]
        deadline = time.monotonic() + 600
        while not api.send("GET", f"/backfills/{backfill}").get("completed_at"):
            world["cluster"].check_alive()
            assert time.monotonic() < deadline, f"the runbook backfill did not finish: {_run_ids(api)}"
            time.sleep(2)
        after = _held(engine, pf)
        with engine.connect() as conn:
            summaries = conn.execute(sa.select(wh.run_summary.c.run_key, wh.run_summary.c.reconciled)
                                     .order_by(wh.run_summary.c.id)).all()
        pages = {path: api.session.get(f"{settings.api_url}{path}", timeout=30)
                 for path in ("/creditflow/dashboard?kind=penalty", "/creditflow/review")}
    finally:
        engine.dispose()
    return {"before": before, "after": after, "runs": _run_ids(api), "summaries": summaries, "pages": pages}


def test_the_runbook_backfill_ran_every_day_again_green(world, runbook_backfill):
    runs = runbook_backfill["runs"]
    assert {day: runs[day.isoformat()]["state"] for day in DAYS} == {day: "success" for day in DAYS}
    keys = [s[0] for s in runbook_backfill["summaries"]]
    assert len(keys) == 2 * len(DAYS) and set(keys[len(DAYS):]) == set(keys[:len(DAYS)])  # re-runs added
    assert all(ok for _, ok in runbook_backfill["summaries"])


def test_the_runbook_backfill_changes_nothing_in_review_ledger_or_platform(world, runbook_backfill):
    before, after = runbook_backfill["before"], runbook_backfill["after"]
    assert before["pending"], "the scenario has natural persons' records waiting in 审核"
    assert after["pending"] == before["pending"]
    assert after["reviews"] == before["reviews"]
    assert after["ledger"] == before["ledger"]
    assert (after["platform"], after["operations"], after["batches"]) == \
        (before["platform"], before["operations"], before["batches"])


def test_after_the_runbook_backfill_the_pages_agree_with_the_platform(world, runbook_backfill):
    dashboard, review = (runbook_backfill["pages"][p] for p in ("/creditflow/dashboard?kind=penalty",
                                                                 "/creditflow/review"))
    assert dashboard.status_code == 200 and review.status_code == 200
    card = re.search(r'data-k="uploaded">\s*<div class="value">(\d+)</div>', dashboard.text)
    assert card is not None and int(card.group(1)) == len(runbook_backfill["after"]["platform"])
    shown = re.findall(r"<br><code>([^<]+)</code></td>", review.text)  # 审核 lists each waiting record once
    assert sorted(shown) == runbook_backfill["after"]["pending"]
