"""DAG-run benchmarks on a real embedded stack (by hand, not a test; issue #12 targets 1 and 2).

    python bench/dagruns.py fixed [--runs 7] [--dag-file OLD]  # per-run fixed cost: empty daily runs vs a no-op DAG
    python bench/dagruns.py year [--days 365] [--decisions 20000] [--kinds penalty,license,coercion] [--cluster]

Both start what ``make demo`` starts — ``airflow api-server``, ``scheduler``, ``dag-processor``, ``triggerer``
(LocalExecutor, SQLite metadata, the project's ``airflow_env``) plus the platform (and licensing) sandbox —
in a temporary folder, with the project's DAG files and a one-task no-op DAG (``bench/dags/bench_noop.py``)
in its DAGs folder. Nothing of the demo's ``var/`` or ``.airflow/`` is touched.

``fixed``: the no-op DAG and ``sgs_penalty`` share one schedule (daily, local midnight, the same start
date ``--runs`` days back, catchup); each is unpaused in turn (the other paused) and the scheduler catches up
its runs one at a time (``max_active_runs=1``), on a case DB with no decisions in those days — empty runs.
Reported per DAG: wall time from the first run's start to the last run's end divided by the runs, and the
ratio ``sgs_penalty`` / no-op (target ≤ 2).

``year``: generates ``--decisions`` decisions over ``--days`` days ending before the daily DAGs' start, then
triggers ``sgs_history`` for that range and all kinds; reports the wall time from trigger to the run's end
(issue #12: a year of all three kinds < 15 min; issue #20 target 4: ≤ 3 min), the per-kind task times, the
per-kind sum of each step's seconds over the days (from the tasks' XCom: wall seconds inside the task), the
CPU seconds of every process of the stack (each kind's task process, the scheduler, the api-server … —
sampled from ``/proc`` while the run lasts) and the load average before, during (highest) and after. With
``--cluster`` the same load runs on the distributed shape of ``make cluster`` (``scripts/cluster.py``:
PostgreSQL metadata DB and warehouse, Redis, CeleryExecutor, two workers) instead of the embedded stack.
"""

from __future__ import annotations

import argparse
import datetime as dt
import itertools
import json
import os
import resource
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "scripts"))
sys.path.insert(0, str(ROOT / "include"))
from airflow_api import Api, wait_http  # noqa: E402

BIN = Path(sys.executable).parent
HOST = "127.0.0.1"
procs: list[subprocess.Popen] = []


def log(msg: str) -> None:
    print(f"[bench] {msg}", flush=True)


def start(name: str, cmd: list[str], env: dict[str, str], logs: Path) -> None:
    out = open(logs / f"{name}.log", "ab")  # noqa: SIM115 — lives as long as the process
    procs.append(subprocess.Popen(cmd, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True))


def stop_all() -> None:
    for p in procs:
        try:
            os.killpg(p.pid, signal.SIGTERM)
        except ProcessLookupError:
            pass
    for p in procs:
        try:
            p.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(p.pid, signal.SIGKILL)
    procs.clear()


def stack(work: Path, port: int, daily_start: str, extra_dags: list[Path],
          dag_file: Path | None = None) -> tuple[dict[str, str], Api]:
    """Airflow home, DAGs folder, connections, pools; the four Airflow services and the sandboxes."""
    from airflow_env import airflow_env

    home, var, dags, logs = work / "home", work / "var", work / "dags", work / "logs"
    for d in (home, var, dags, logs):
        d.mkdir(parents=True, exist_ok=True)
    for f in [dag_file or ROOT / "dags" / "sgs_reporting.py", ROOT / "dags" / "sgs_history.py", *extra_dags]:
        (dags / "sgs_reporting.py" if f == dag_file else dags / f.name).symlink_to(f)
    env = {**os.environ, **airflow_env(home, port)}
    env.update({"AIRFLOW__CORE__DAGS_FOLDER": str(dags), "CREDITFLOW_VAR": str(var),
                "CREDITFLOW_SGS_START": daily_start, "AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL": "5",
                "CREDITFLOW_OPENLINEAGE_TRANSPORT": env.get("CREDITFLOW_OPENLINEAGE_TRANSPORT", "")})
    pf_port, lic_port = port + 1, port + 2
    conns = {
        "creditflow_db": {"conn_type": "generic", "extra": {"sqlalchemy_url": f"sqlite:///{var}/creditflow.sqlite"}},
        "case_db": {"conn_type": "generic", "extra": {"sqlalchemy_url": f"sqlite:///{var}/casedb.sqlite"}},
        "credit_platform": {"conn_type": "http", "host": HOST, "port": pf_port, "schema": "http",
                            "login": "creditflow-demo", "password": "demo-secret", "extra": {"timeout": 30}},
        "licensing_api": {"conn_type": "http", "host": HOST, "port": lic_port, "schema": "http",
                          "login": "creditflow", "password": "demo-licensing"},
    }
    (home / "connections.json").write_text(json.dumps(conns))
    (home / "variables.json").write_text(json.dumps({"creditflow_inbox_dir": str(var / "inbox")}))
    run = lambda *a: subprocess.run([str(BIN / "airflow"), *a], env=env, check=True,  # noqa: E731
                                    stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    run("db", "migrate")
    run("connections", "import", "--overwrite", str(home / "connections.json"))
    run("variables", "import", "-a", "overwrite", str(home / "variables.json"))
    run("pools", "import", str(ROOT / "config" / "pools.json"))
    run("pools", "set", "creditflow_ledger", "1", "ledger pool of DAG versions before issue #12")
    from creditflow.core import warehouse as wh

    # The warehouse is sealed under the stack's keyring (#19 §3: revision 0018 needs it): the same connection
    # the Airflow services get.
    os.environ["AIRFLOW_CONN_CREDITFLOW_PII"] = env["AIRFLOW_CONN_CREDITFLOW_PII"]
    wh.upgrade(f"sqlite:///{var}/creditflow.sqlite")
    start("platform", [str(BIN / "creditflow"), "sandbox", "platform", "--host", HOST, "--port", str(pf_port),
                       "--db", f"sqlite:///{var}/platform.sqlite"], env, logs)
    start("licensing", [str(BIN / "creditflow"), "sandbox", "licensing", "--host", HOST, "--port", str(lic_port),
                        "--db", f"sqlite:///{var}/licensing.sqlite"], env, logs)
    for name in ("api-server", "scheduler", "dag-processor", "triggerer"):
        cmd = [str(BIN / "airflow"), name] + (["--host", HOST, "--port", str(port)] if name == "api-server" else [])
        start(name, cmd, env, logs)
    wait_http(f"http://{HOST}:{pf_port}/health", 180, poll=0.5)
    wait_http(f"http://{HOST}:{port}/api/v2/monitor/health", 180, poll=0.5)
    run("dags", "reserialize")
    return env, Api(f"http://{HOST}:{port}")


class CpuSampler(threading.Thread):
    """CPU seconds (user + system) of every process started by :func:`start` and of their descendants (task
    processes, the LocalExecutor's workers), sampled every ``every`` seconds from ``/proc`` until stopped —
    a process that ends between two samples keeps its last sample. Also the highest 1-min load seen."""

    def __init__(self, every: float = 2.0) -> None:
        super().__init__(daemon=True)
        self.every, self.seen, self.max_load = every, {}, 0.0
        self.halt = threading.Event()
        self.tick = os.sysconf("SC_CLK_TCK")

    @staticmethod
    def _stat(pid: int) -> list[str]:
        text = Path(f"/proc/{pid}/stat").read_text()
        return text[text.rfind(")") + 2:].split()

    def sample(self) -> None:
        parents: dict[int, list[int]] = {}
        for entry in os.listdir("/proc"):
            if entry.isdigit():
                try:
                    parents.setdefault(int(self._stat(int(entry))[1]), []).append(int(entry))
                except (OSError, IndexError):
                    pass
        todo = [p.pid for p in procs]
        while todo:
            pid = todo.pop()
            todo += parents.get(pid, [])
            try:
                fields = self._stat(pid)
                cmd = Path(f"/proc/{pid}/cmdline").read_text().replace("\0", " ").strip()
            except (OSError, IndexError):
                continue
            # an ended process (a zombie until reaped) has no command line left: keep the name it had
            cmd = cmd or self.seen.get(pid, {}).get("cmd", "?")
            self.seen[pid] = {"cmd": cmd, "cpu_s": (int(fields[11]) + int(fields[12])) / self.tick}
        self.max_load = max(self.max_load, os.getloadavg()[0])

    def run(self) -> None:
        while not self.halt.wait(self.every):
            self.sample()

    def stop(self) -> dict[str, Any]:
        self.halt.set()
        self.join()
        self.sample()
        return {"by_process": self.by_process(), "max_load_1min": round(self.max_load, 2)}

    def by_process(self) -> dict[str, float]:
        """CPU seconds per process, named by its command (``airflow worker -- <ti id>`` is a task process)."""
        out: dict[str, float] = {}
        for info in self.seen.values():
            words = info["cmd"].split()
            name = " ".join(words[words.index("sandbox"):words.index("sandbox") + 2]) if "sandbox" in words \
                else info["cmd"].split("/bin/")[-1][:80]
            out[name] = round(out.get(name, 0.0) + info["cpu_s"], 1)
        return dict(sorted(out.items(), key=lambda kv: -kv[1]))


def step_seconds(api: Api, run_id: str, tis: list[dict[str, Any]]) -> dict[str, dict[str, float]]:
    """Per kind, each step's seconds summed over the days (the ``load`` tasks' XCom: per-day results)."""
    out: dict[str, dict[str, float]] = {}
    for ti in tis:
        if ti["task_id"] != "load":
            continue
        entry = api.call("GET", f"/dags/sgs_history/dagRuns/{run_id}/taskInstances/load/xcomEntries/days",
                         params={"map_index": ti["map_index"], "deserialize": True})
        if entry.status_code != 200:
            continue
        days = entry.json()["value"]
        days = json.loads(days) if isinstance(days, str) else days
        for day in days or []:
            sums = out.setdefault(day["kind"], {})
            for step, secs in ((day.get("summary") or {}).get("seconds") or {}).items():
                sums[step] = round(sums.get(step, 0.0) + float(secs), 1)
    return out


def wait_dag(api: Api, dag_id: str, timeout: float = 3600) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            api.send("GET", f"/dags/{dag_id}")
            return
        except Exception:  # not parsed yet
            time.sleep(1)
    raise SystemExit(f"{dag_id} never appeared (import error? see logs)")


def runs_of(api: Api, dag_id: str) -> list[dict[str, Any]]:
    return api.send("GET", f"/dags/{dag_id}/dagRuns", params={"limit": 1000})["dag_runs"]


def until_done(api: Api, dag_id: str, expected: int, timeout: float,
               due_by: float | None = None) -> list[dict[str, Any]]:
    """The DAG's runs once ``expected`` are finished; with ``due_by`` only runs whose interval ended by then
    count (an older DAG version creates today's run at midnight and holds it in a 06:00 sensor)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        runs = [r for r in runs_of(api, dag_id) if due_by is None or _ts(r["data_interval_end"]) <= due_by]
        if len(runs) >= expected and all(r["state"] in ("success", "failed") for r in runs):
            return runs
        time.sleep(1)
    raise SystemExit(f"{dag_id}: runs not done in {timeout:.0f} s")


def _ts(value: str) -> float:
    return dt.datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()


def per_run(runs: list[dict[str, Any]], skip: set[str] | None = None) -> dict[str, Any]:
    """Wall per run over the whole catch-up (run creation, scheduling and the gaps between runs included),
    and per *slot* — from the previous run's end to this run's end — for the runs not in ``skip`` (local
    dates of runs that had records: an empty run is the fixed cost)."""
    runs = sorted(runs, key=lambda r: r["data_interval_start"])
    first = min(_ts(r["start_date"]) for r in runs)
    last = max(_ts(r["end_date"]) for r in runs)
    durations = sorted(_ts(r["end_date"]) - _ts(r["start_date"]) for r in runs)
    slots = [_ts(b["end_date"]) - _ts(a["end_date"]) for a, b in itertools.pairwise(runs)
             if _local_day(b) not in (skip or set())]
    return {"runs": len(runs), "failed": sum(r["state"] != "success" for r in runs),
            "wall_s": round(last - first, 1), "per_run_s": round((last - first) / len(runs), 2),
            "median_run_s": round(durations[len(durations) // 2], 2),
            "empty_slots": len(slots), "mean_slot_s": round(sum(slots) / len(slots), 2) if slots else None}


def _local_day(run: dict[str, Any]) -> str:
    start = dt.datetime.fromisoformat(run["data_interval_start"].replace("Z", "+00:00"))
    return start.astimezone(dt.timezone(dt.timedelta(hours=8))).date().isoformat()


def days_with_records(work: Path) -> set[str]:
    import sqlalchemy as sa
    from creditflow.core import warehouse as wh

    engine = wh.engine_from_url(f"sqlite:///{work}/var/creditflow.sqlite")
    with engine.connect() as conn:
        s = wh.run_summary
        return {r.interval_start[:10] for r in conn.execute(sa.select(s.c.interval_start).where(
            s.c.extracted > 0, wh.latest_summaries()))}


def bench_fixed(args: argparse.Namespace, work: Path) -> dict[str, Any]:
    from creditflow.common import TZ
    from creditflow_sandbox import generator as g

    today = dt.datetime.now(TZ).date()
    first = today - dt.timedelta(days=args.runs + 1)
    (work / "var").mkdir(parents=True, exist_ok=True)
    # Master data and some decisions long before: the benchmarked days themselves have none.
    g.generate_to(g.GeneratorConfig(decisions=50, start=first - dt.timedelta(days=400), days=5),
                  case_db_url=f"sqlite:///{work}/var/casedb.sqlite", licensing_db_url=f"sqlite:///{work}/var/licensing.sqlite",
                  inbox=work / "var" / "inbox")
    os.environ["BENCH_NOOP_START"] = first.isoformat()
    _, api = stack(work, args.port, first.isoformat(), [ROOT / "bench" / "dags" / "bench_noop.py"],
                   Path(args.dag_file).resolve() if args.dag_file else None)
    out: dict[str, Any] = {"first_day": first.isoformat(), "load_before": os.getloadavg()}
    for dag_id in ("bench_noop", "sgs_penalty"):
        wait_dag(api, dag_id)
    from creditflow.common import DAILY_RUN_DELAY

    for dag_id, delay in (("bench_noop", dt.timedelta(0)), ("sgs_penalty", DAILY_RUN_DELAY)):
        now = dt.datetime.now(TZ)
        expected = sum(1 for i in range((today - first).days + 1)
                       if dt.datetime.combine(first + dt.timedelta(days=i + 1), dt.time(), TZ) + delay <= now)
        t0 = time.monotonic()
        api.send("PATCH", f"/dags/{dag_id}", json={"is_paused": False})
        runs = until_done(api, dag_id, expected, timeout=3600, due_by=(now - delay).timestamp())
        api.send("PATCH", f"/dags/{dag_id}", json={"is_paused": True})
        skip = days_with_records(work) if dag_id == "sgs_penalty" else set()
        out[dag_id] = {**per_run(runs, skip), "wall_since_unpause_s": round(time.monotonic() - t0, 1),
                       "days_with_records": sorted(skip)}
        log(f"{dag_id}: {out[dag_id]}")
    out["ratio_per_run"] = round(out["sgs_penalty"]["per_run_s"] / out["bench_noop"]["per_run_s"], 2)
    if out["sgs_penalty"]["mean_slot_s"] and out["bench_noop"]["mean_slot_s"]:
        out["ratio_empty_run"] = round(out["sgs_penalty"]["mean_slot_s"] / out["bench_noop"]["mean_slot_s"], 2)
    return out


def bench_year(args: argparse.Namespace, work: Path) -> dict[str, Any]:
    from creditflow_sandbox import generator as g

    daily_start = dt.date.fromisoformat(args.daily_start)
    first = daily_start - dt.timedelta(days=args.days)
    last = daily_start - dt.timedelta(days=1)
    (work / "var").mkdir(parents=True, exist_ok=True)
    t0 = time.monotonic()
    counts = g.generate_to(g.GeneratorConfig(decisions=args.decisions, start=first, days=args.days - 7),
                           case_db_url=f"sqlite:///{work}/var/casedb.sqlite",
                           licensing_db_url=f"sqlite:///{work}/var/licensing.sqlite", inbox=work / "var" / "inbox")
    log(f"generated {counts} in {time.monotonic() - t0:.0f} s")
    _, api = stack(work, args.port, daily_start.isoformat(), [])
    wait_dag(api, "sgs_history")
    api.send("PATCH", "/dags/sgs_history", json={"is_paused": False})
    kinds = args.kinds.split(",")
    load_before = os.getloadavg()
    sampler = CpuSampler()
    sampler.sample()
    cpu_before = sampler.by_process()  # start-up (imports, db migrate, DAG parsing): not the run's
    sampler.start()
    t0 = time.monotonic()
    api.send("POST", "/dags/sgs_history/dagRuns", json={"logical_date": None, "conf": {
        "kinds": kinds, "first_day": first.isoformat(), "last_day": last.isoformat()}})
    runs = until_done(api, "sgs_history", 1, timeout=4 * 3600)
    wall = time.monotonic() - t0
    cpu = sampler.stop()
    run = runs[0]
    tis = api.send("GET", f"/dags/sgs_history/dagRuns/{run['dag_run_id']}/taskInstances")["task_instances"]
    tasks = {f"{t['task_id']}[{t['map_index']}]": {"state": t["state"], "duration_s": round(t["duration"] or 0, 1)}
             for t in tis}
    by_ti = {t["id"]: f"{t['task_id']}[{t['map_index']}]" for t in tis}
    named: dict[str, float] = {}
    for name, secs in cpu["by_process"].items():  # a task's process and its LocalExecutor worker: one line
        key = next((f"task {v}" for k, v in by_ti.items() if k in name), name)
        named[key] = round(named.get(key, 0.0) + secs - cpu_before.get(name, 0.0), 1)
    cpu["by_process"] = named
    cpu["total_s"] = round(sum(cpu["by_process"].values()), 1)
    from creditflow.core import warehouse as wh

    engine = wh.engine_from_url(f"sqlite:///{work}/var/creditflow.sqlite")
    return {"range": [first.isoformat(), last.isoformat()], "kinds": kinds, "decisions": args.decisions,
            "generated": counts, "run_state": run["state"], "wall_s": round(wall, 1), "tasks": tasks,
            "step_seconds": step_seconds(api, run["dag_run_id"], tis), "cpu_during_run": cpu,
            "per_kind": per_kind_totals(engine), "load_before": load_before, "load_after": os.getloadavg()}


def per_kind_totals(engine: Any) -> dict[str, Any]:
    import sqlalchemy as sa
    from creditflow.core import warehouse as wh

    with engine.connect() as conn:
        s = wh.run_summary
        names = ("days", "extracted", "uploaded", "reconciled")
        out = {k: dict(zip(names, row, strict=True)) for k, *row in conn.execute(
            sa.select(s.c.kind, sa.func.count(), sa.func.sum(s.c.extracted), sa.func.sum(s.c.uploaded),
                      sa.func.sum(sa.cast(s.c.reconciled, sa.Integer))).where(wh.latest_summaries())
            .group_by(s.c.kind))}
    engine.dispose()
    return out


def bench_year_cluster(args: argparse.Namespace, work: Path) -> dict[str, Any]:
    """``year --cluster``: the same load on what ``make cluster`` runs — PostgreSQL (metadata and
    warehouse), Redis, CeleryExecutor with two workers (``scripts/cluster.py``), the sandboxes as processes."""
    import uuid

    import cluster as cl
    from creditflow.core import warehouse as wh
    from creditflow_sandbox import generator as g

    daily_start = dt.date.fromisoformat(args.daily_start)
    first = daily_start - dt.timedelta(days=args.days)
    last = daily_start - dt.timedelta(days=1)
    var = work / "var"
    var.mkdir(parents=True, exist_ok=True)
    t0 = time.monotonic()
    counts = g.generate_to(g.GeneratorConfig(decisions=args.decisions, start=first, days=args.days - 7),
                           case_db_url=f"sqlite:///{var}/casedb.sqlite",
                           licensing_db_url=f"sqlite:///{var}/licensing.sqlite", inbox=var / "inbox")
    log(f"generated {counts} in {time.monotonic() - t0:.0f} s")
    ports = [cl.free_port() for _ in range(7)]
    own_redis = shutil.which("redis-server") is not None
    settings = cl.Settings(name=f"cf_bench_{uuid.uuid4().hex[:8]}", home=work / "home", var=var, port=ports[0],
                           redis_url=None if own_redis else "redis://127.0.0.1:6379/14", redis_port=ports[1],
                           worker_log_ports=(ports[2], ports[3]), trigger_log_port=ports[4],
                           sgs_start=daily_start.isoformat())
    settings.extra_env = cl.connections_env(settings.warehouse_url, f"sqlite:///{var}/casedb.sqlite", ports[5],
                                            ports[6], var / "inbox")
    cluster = cl.Cluster(settings)
    kinds = args.kinds.split(",")
    try:
        cluster.prepare()
        creditflow = str(BIN / "creditflow")
        cluster.start("platform", [creditflow, "sandbox", "platform", "--host", HOST, "--port", str(ports[5]),
                                   "--db", f"sqlite:///{var}/platform.sqlite"])
        cluster.start("licensing", [creditflow, "sandbox", "licensing", "--host", HOST, "--port", str(ports[6]),
                                    "--db", f"sqlite:///{var}/licensing.sqlite"])
        cluster.start_all()
        cluster.wait_ready(timeout=300)
        api = Api(settings.api_url)
        api.wait_for_dags(["sgs_history"])
        api.unpause("sgs_history")
        load_before = os.getloadavg()
        t0 = time.monotonic()
        r = api.call("POST", "/dags/sgs_history/dagRuns", json={"logical_date": None, "conf": {
            "kinds": kinds, "first_day": first.isoformat(), "last_day": last.isoformat()}})
        r.raise_for_status()
        run_id = r.json()["dag_run_id"]
        deadline = time.monotonic() + 4 * 3600
        while True:
            cluster.check_alive()
            run = api.json(f"/dags/sgs_history/dagRuns/{run_id}")
            if run["state"] in ("success", "failed"):
                break
            if time.monotonic() > deadline:
                raise SystemExit("sgs_history did not finish in 4 hours")
            time.sleep(2)
        wall = time.monotonic() - t0
        tis = api.json(f"/dags/sgs_history/dagRuns/{run['dag_run_id']}/taskInstances")["task_instances"]
        tasks = {f"{t['task_id']}[{t['map_index']}]": {"state": t["state"], "duration_s": round(t["duration"] or 0, 1),
                                                        "host": (t.get("hostname") or "").split(".", 1)[0]}
                 for t in tis}
        per_kind = per_kind_totals(wh.engine_from_url(settings.warehouse_url))
    finally:
        cluster.stop()
    return {"shape": "cluster: PostgreSQL, Redis, CeleryExecutor, 2 workers × concurrency 2",
            "range": [first.isoformat(), last.isoformat()], "kinds": kinds, "decisions": args.decisions,
            "generated": counts, "run_state": run["state"], "wall_s": round(wall, 1), "tasks": tasks,
            "per_kind": per_kind, "load_before": load_before}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("what", choices=["fixed", "year"])
    ap.add_argument("--runs", type=int, default=7)
    ap.add_argument("--days", type=int, default=365)
    ap.add_argument("--decisions", type=int, default=20000)
    ap.add_argument("--kinds", default="penalty,license,coercion")
    ap.add_argument("--daily-start", default="2026-11-01")
    ap.add_argument("--port", type=int, default=8181)
    ap.add_argument("--cluster", action="store_true", help="year: on the CeleryExecutor cluster (scripts/cluster.py)")
    ap.add_argument("--keep", action="store_true", help="keep the work folder (logs) at the end")
    ap.add_argument("--dag-file", help="fixed: another version of dags/sgs_reporting.py (e.g. `git show "
                                       "d66a481:dags/sgs_reporting.py > /tmp/old.py`) to measure side by side")
    args = ap.parse_args()
    work = Path(tempfile.mkdtemp(prefix=f"cf_bench_{args.what}_"))
    log(f"work folder {work}")
    try:
        if args.what == "fixed":
            result = bench_fixed(args, work)
        else:
            result = bench_year_cluster(args, work) if args.cluster else bench_year(args, work)
    finally:
        stop_all()
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)
    result["machine"] = {"cpus": os.cpu_count(), "python": sys.version.split()[0],
                         "bench_cpu_s": round(resource.getrusage(resource.RUSAGE_SELF).ru_utime, 1)}
    print(json.dumps(result, ensure_ascii=False, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
