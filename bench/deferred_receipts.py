"""The deferred receipt wait on a real stack (by hand, not a test; issue #17 §4).

    PYTHONPATH=include:plugins:. python bench/deferred_receipts.py [--port 28190] [--processing 20]

Starts what ``bench/dagruns.py`` starts (api-server, scheduler, dag-processor, triggerer; LocalExecutor,
SQLite) in a temporary folder, generates one day of decisions two days ago, makes the platform sandbox hold
its receipts back ``--processing`` seconds and unpauses ``sgs_penalty``. Prints each change of the first
run's task states, the trigger rows (with whether the platform's secret is in their kwargs) and the
``receipts`` task's XCom: ``receipts`` should go *deferred* with a ``PlatformReceiptsTrigger`` row, then
succeed with ``deferred`` 1.
"""
import argparse
import datetime as dt
import sqlite3
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))
import dagruns as bd  # noqa: E402
import requests  # noqa: E402
from creditflow.common import TZ  # noqa: E402
from creditflow_sandbox import generator as g  # noqa: E402

ap = argparse.ArgumentParser()
ap.add_argument("--port", type=int, default=28190)
ap.add_argument("--processing", type=float, default=20)
args = ap.parse_args()
port = args.port
work = Path(tempfile.mkdtemp(prefix="stages_defer_"))
day = dt.datetime.now(TZ).date() - dt.timedelta(days=2)
(work / "var").mkdir(parents=True)
g.generate_to(g.GeneratorConfig(decisions=30, start=day, days=1), case_db_url=f"sqlite:///{work}/var/casedb.sqlite",
              licensing_db_url=f"sqlite:///{work}/var/licensing.sqlite", inbox=work / "var" / "inbox")
try:
    _, api = bd.stack(work, port, day.isoformat(), [])
    requests.post(f"http://127.0.0.1:{port + 1}/admin/faults", json={"processing_seconds": args.processing},
                  headers={"X-Admin-Token": "sandbox-admin"}, timeout=10).raise_for_status()
    bd.wait_dag(api, "sgs_penalty")
    api.call("PATCH", "/dags/sgs_penalty", json={"is_paused": False})
    seen, triggers, t0 = [], [], time.monotonic()
    while time.monotonic() - t0 < 600:
        runs = api.call("GET", "/dags/sgs_penalty/dagRuns?order_by=logical_date")["dag_runs"]
        if runs:
            r = runs[0]
            tis = {t["task_id"]: t["state"] for t in api.call(
                "GET", f"/dags/sgs_penalty/dagRuns/{r['dag_run_id']}/taskInstances")["task_instances"]}
            if not seen or seen[-1][1] != tis:
                seen.append((round(time.monotonic() - t0, 1), tis))
                print(seen[-1], flush=True)
            with sqlite3.connect(work / "home" / "airflow.db") as db:
                rows = db.execute("select classpath, kwargs from trigger").fetchall()
            for cp, kw in rows:
                if cp not in [t[0] for t in triggers]:
                    triggers.append((cp, "demo-secret" in kw))
                    print("trigger row:", cp, "secret in kwargs:", "demo-secret" in kw, flush=True)
            if r["state"] in ("success", "failed"):
                print("run", r["state"], flush=True)
                break
        time.sleep(0.5)
    run_id = runs[0]["dag_run_id"]
    xcom = api.call("GET", f"/dags/sgs_penalty/dagRuns/{run_id}/taskInstances/receipts/xcomEntries/return_value")
    print("receipts xcom:", xcom.get("value"))
finally:
    bd.stop_all()
    print("work", work)
