"""``make demo``: the embedded stack on one machine, walking day by day through every path it shows.

Prepares an Airflow home inside the repo (``.airflow/``: SQLite metadata DB, LocalExecutor, simple auth
manager with the demo login admin/admin), loads connections, variables and pools from ``config/`` and
prepares the warehouse. Seeds the sandboxes once (``var/``) with **only the past**: the case system's
master data, plus a timeline of what happens on each demo day (entries, licences, edits, revocations,
late entries, fixes — ``var/timeline.jsonl``) and the district files waiting in ``var/district_drop/``
with their arrival times. Starts the Airflow services and the sandboxes, all on 127.0.0.1.

Then it **drives the days itself**, in order. For day D it brings the sources to D+1 06:00 — the run's
scheduled start — by applying everything that happened before then and releasing the district files
that had arrived into ``var/inbox/penalty/``; creates that day's runs of ``sgs_penalty``, ``sgs_license``
and ``sgs_coercion`` (a one-day backfill each) and waits for them to finish; then the next day. The
DAGs' own schedule starts today (``CREDITFLOW_SGS_START``), so the scheduler never runs a demo day ahead
of its data. Ctrl-C stops every process it started. Running it again reuses what exists and continues
with the days not yet driven (``make clean`` starts over).

The days: the last ``DEMO_DAYS`` working days before today with the days between them (weekends run
too, as in production); a run's day is over once its 06:00 start has passed. The seeding's rates make
sure the end state shows late decisions, 更正 and 撤销 waiting in 审核, near-duplicates in review,
quarantined records and a rejected (unreadable) district file.

Environment: ``DEMO_DAYS`` (working days, default 3), ``DEMO_DECISIONS`` (default 300),
``DEMO_EXIT_AFTER_RUNS=1`` (stop once the demo days are driven; exit 1 if any run failed — a smoke
test), ``AIRFLOW_PORT`` (default 8080).
"""

from __future__ import annotations

import datetime as dt
import json
import os
import signal
import socket
import string
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from airflow_api import Api, wait_http
from airflow_env import ROOT, airflow_env
from demo_failures import failure_cause, task_failure_lines

BIN = Path(sys.executable).parent
VAR = ROOT / "var"
HOME = ROOT / ".airflow"
HOST = "127.0.0.1"  # every service of the demo listens on loopback only
PORT = int(os.environ.get("AIRFLOW_PORT", "8080"))
DAYS = int(os.environ.get("DEMO_DAYS", "3"))
DECISIONS = int(os.environ.get("DEMO_DECISIONS", "300"))
HISTORY_DAYS = int(os.environ.get("DEMO_HISTORY_DAYS", "7"))  # loaded first by sgs_history (a first load)
REPORTING = ["sgs_penalty", "sgs_license", "sgs_coercion"]  # driven day by day
UNPAUSED = [*REPORTING, "calendar_watch", "sgs_review_signoff", "credit_list", "credit_repair", "sgs_history"]
# More of the changes a demo should show than a normal day has (see creditflow_sandbox.generator).
DEMO_RATES = {"late_entry": 0.06, "edit_after_upload": 0.07, "revocation": 0.05, "near_duplicate": 0.05,
              "cross_source_duplicate": 0.03}
STATE = VAR / ".seeded.json"
TIMELINE = VAR / "timeline.jsonl"
DROP = VAR / "district_drop"  # where district files wait until they arrive
INBOX = VAR / "inbox"
procs: list[subprocess.Popen] = []


def log(msg: str) -> None:
    print(f"[demo] {msg}", flush=True)


def port_free(port: int) -> bool:
    with socket.socket() as s:
        return s.connect_ex((HOST, port)) != 0


def run(cmd: list[str], env: dict[str, str], **kw) -> subprocess.CompletedProcess:  # type: ignore[no-untyped-def]
    return subprocess.run(cmd, env=env, check=True, **kw)


def start(name: str, cmd: list[str], env: dict[str, str]) -> None:
    logf = open(HOME / "logs" / f"{name}.log", "ab")  # noqa: SIM115 — lives as long as the process
    p = subprocess.Popen(cmd, env=env, stdout=logf, stderr=subprocess.STDOUT, start_new_session=True)
    procs.append(p)
    log(f"started {name} (pid {p.pid}, log .airflow/logs/{name}.log)")


def stop_all(*_: object) -> None:
    if not procs:
        return
    log("stopping …")
    for p in procs:
        try:
            os.killpg(p.pid, signal.SIGTERM)
        except ProcessLookupError:
            pass
    deadline = time.monotonic() + 20
    for p in procs:
        try:
            p.wait(timeout=max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            os.killpg(p.pid, signal.SIGKILL)
    procs.clear()
    log("stopped")


def on_signal(*_: object) -> None:
    """Ctrl-C / SIGTERM: stop every process the demo started, then leave."""
    stop_all()
    sys.exit(0)


def render(src: Path, dst: Path, env: dict[str, str]) -> Path:
    dst.write_text(string.Template(src.read_text(encoding="utf-8")).safe_substitute(env), encoding="utf-8")
    return dst


def demo_days(now: dt.datetime, working_days: int) -> list[dt.date]:
    """The last ``working_days`` working days whose run time (D+1 06:00) has passed, with the days
    between them and after them up to the last such day."""
    from creditflow.common import DAILY_RUN_DELAY
    from creditflow.core.workdays import official_calendar

    cal = official_calendar()
    last = (now - DAILY_RUN_DELAY).date() - dt.timedelta(days=1)
    first, found = last, 0
    while found < max(1, working_days):
        if cal.is_workday(first):
            found += 1
        if found < max(1, working_days):
            first -= dt.timedelta(days=1)
    return [first + dt.timedelta(days=i) for i in range((last - first).days + 1)]


def seed(days: list[dt.date], decisions: int) -> dict[str, Any]:
    """Only the past into the sandboxes; what happens later into the timeline and the drop folder."""
    from creditflow_sandbox import generator as g

    rates = {**g.DEFAULT_RATES, **DEMO_RATES}
    cfg = g.GeneratorConfig(decisions=decisions, start=days[0], days=len(days), horizon=days[-1], rates=rates,
                            corrupt_file_share=0.05)
    counts = g.generate_to(cfg, case_db_url=f"sqlite:///{VAR}/casedb.sqlite",
                           licensing_db_url=f"sqlite:///{VAR}/licensing.sqlite", inbox=DROP,
                           manifest=VAR / "manifest.jsonl", timeline=TIMELINE)
    for kind in ("penalty", "license", "coercion"):  # the district inbox: one folder per record kind
        (INBOX / kind).mkdir(parents=True, exist_ok=True)
    return counts


def warehouse_url() -> str:
    """The ``creditflow_db`` connection's URL, as rendered from ``config/connections.json``."""
    rendered = json.loads((HOME / "connections.json").read_text(encoding="utf-8"))
    return str(rendered["creditflow_db"]["extra"]["sqlalchemy_url"])


def prepare_warehouse() -> None:
    """THE one place the demo prepares the warehouse (before any Airflow process starts): migrations up to
    the latest revision — what ``creditflow db upgrade`` does — on the ``creditflow_db`` connection's URL."""
    from creditflow.core import warehouse as wh

    before, after = wh.upgrade(warehouse_url())
    log(f"warehouse at revision {after}" + (f" (was {before})" if before != after else ""))


def _midnight(day: dt.date) -> str:
    return f"{day.isoformat()}T00:00:00+08:00"


def create_day_run(api: Api, dag_id: str, day: dt.date) -> None:
    """A one-day backfill: the run for ``day`` with its data interval [D 00:00, D+1 00:00) local. Airflow
    allows one active backfill per DAG and marks finished ones complete every 30 s: retry until then."""
    body = {"dag_id": dag_id, "from_date": _midnight(day), "to_date": _midnight(day), "max_active_runs": 1,
            "reprocess_behavior": "none", "run_backwards": False}
    started = time.monotonic()
    while True:
        r = api.call("POST", "/backfills", json=body)
        if r.ok:
            return
        waited = time.monotonic() - started
        if r.status_code not in (404, 409, 503) or waited > 1800:
            raise SystemExit(f"[demo] could not create the run of {dag_id} for {day}: {r.status_code} {r.text}")
        if r.status_code == 404 and waited > 120:
            log(f"  {dag_id} is still unknown to Airflow — an import error? see the UI / dag-processor log")
        time.sleep(3)


def day_run(api: Api, dag_id: str, day: dt.date) -> dict[str, Any] | None:
    r = api.call("GET", f"/dags/{dag_id}/dagRuns",
                 params={"logical_date_gte": _midnight(day), "logical_date_lte": _midnight(day)})
    runs = r.json().get("dag_runs", []) if r.ok else []
    return dict(runs[0]) if runs else None


def run_state(api: Api, dag_id: str, day: dt.date) -> str | None:
    run = day_run(api, dag_id, day)
    return str(run["state"]) if run else None


def why_failed(api: Api, dag_id: str, run_id: str) -> None:
    """Each failed task of the run and its cause (the exception and its last frames, from the task's log)."""
    for line in task_failure_lines(api, dag_id, run_id):
        log(line)


def wait_for_day(api: Api, day: dt.date) -> None:
    last = ""
    while True:
        states = {dag_id: run_state(api, dag_id, day) or "creating" for dag_id in REPORTING}
        line = "  ".join(f"{d}: {s}" for d, s in states.items())
        if line != last:
            log(f"  {day}  {line}")
            last = line
        if all(s in ("success", "failed") for s in states.values()):
            return
        time.sleep(5)


def day_summary(day: dt.date) -> str:
    import sqlalchemy as sa
    from creditflow.core import warehouse as wh

    engine = wh.engine_from_url(warehouse_url())
    s = wh.run_summary
    with engine.connect() as conn:
        rows = conn.execute(sa.select(s).where(s.c.interval_start.like(f"{day.isoformat()}%"),
                                               wh.latest_summaries())).mappings().all()
    engine.dispose()
    return "; ".join(f"{r['kind']}: {r['extracted']} in, {r['uploaded']} up, {r['quarantined']} 问题数据, "
                     f"{r['awaiting_review']} 审核, {r['duplicates']} dup, {r['late']} late"
                     + (f", {r['rejected_files']} files rejected" if r["rejected_files"] else "")
                     for r in sorted(rows, key=lambda r: r["kind"]))


def end_state() -> list[str]:
    """What the demo's last day leaves to look at (for the log; the pages show the same)."""
    import sqlalchemy as sa
    from creditflow.core import warehouse as wh
    from creditflow.reporting import review

    engine = wh.engine_from_url(warehouse_url())
    o = wh.outcomes
    latest: dict[str, dict[str, Any]] = {}
    with engine.connect() as conn:
        for r in conn.execute(sa.select(o).order_by(o.c.run_key)).mappings():
            latest[r["record_id"]] = dict(r)
        rejected = conn.execute(sa.select(sa.func.count()).select_from(wh.source_files)
                                .where(wh.source_files.c.status == "rejected")).scalar_one()
        late = conn.execute(sa.select(sa.func.count(sa.distinct(o.c.record_id)))
                            .where(o.c.late == sa.true())).scalar_one()
    waiting = Counter((r["reason"], r["op"], r["next_level"]) for r in review.pending(engine, limit=5000))
    engine.dispose()
    outcomes = Counter(r["outcome"] for r in latest.values())
    sent = Counter(r["op"] for r in latest.values() if r["outcome"] == "uploaded")
    return [f"records: {dict(outcomes)}; uploaded as {dict(sent)}; late decisions: {late}; "
            f"rejected district files: {rejected}",
            "审核 waiting: " + (", ".join(f"{reason}/{op} at level {lv}: {n}"
                                          for (reason, op, lv), n in sorted(waiting.items(), key=str)) or "none")]


def load_state() -> dict[str, Any] | None:
    if not STATE.exists():
        return None
    state = json.loads(STATE.read_text())
    if "days" not in state or not TIMELINE.exists():
        raise SystemExit("[demo] var/ was seeded by an older demo: run `make clean` first")
    return dict(state)


def main() -> int:
    from creditflow.common import TZ

    for port in (PORT, 8701, 8702):
        if not port_free(port):
            log(f"port {port} is in use: stop what runs there (an earlier demo?) or set AIRFLOW_PORT")
            return 2
    VAR.mkdir(exist_ok=True)
    (HOME / "logs").mkdir(parents=True, exist_ok=True)
    env = {**os.environ, **airflow_env(HOME, PORT)}
    os.environ["AIRFLOW_CONN_CREDITFLOW_PII"] = env["AIRFLOW_CONN_CREDITFLOW_PII"]  # this process migrates (#19 §3)
    state = load_state()
    if state is None:
        now = dt.datetime.now(TZ)
        days = demo_days(now, DAYS)
        history = [days[0] - dt.timedelta(days=HISTORY_DAYS - i) for i in range(max(0, HISTORY_DAYS))]
        decisions = round(DECISIONS * (len(history) + len(days)) / len(days))  # DEMO_DECISIONS on the demo days
        log(f"seeding the sandboxes: {decisions} decisions on {(history or days)[0]} … {days[-1]} (only the "
            "past now; the rest arrives day by day) …")
        counts = seed(history + days, decisions)
        log(f"seeded: {counts}")
        state = {"days": [d.isoformat() for d in days], "history": [d.isoformat() for d in history],
                 "live_from": now.date().isoformat(), "decisions": DECISIONS, "driven": []}
        STATE.write_text(json.dumps(state))
    days = [dt.date.fromisoformat(d) for d in state["days"]]
    # The DAGs' own schedule begins after the demo days: the demo creates those runs itself.
    env["CREDITFLOW_SGS_START"] = state["live_from"]
    for key in ("PLATFORM_DB_URL", "LICENSING_DB_URL"):
        env.pop(key, None)

    log("migrating the Airflow metadata DB (SQLite) …")
    run([str(BIN / "airflow"), "db", "migrate"], env, stdout=subprocess.DEVNULL)
    connections = render(ROOT / "config" / "connections.json", HOME / "connections.json", env)
    prepare_warehouse()  # ← the warehouse is prepared here and only here (see prepare_warehouse)
    run([str(BIN / "airflow"), "connections", "import", "--overwrite", str(connections)], env,
        stdout=subprocess.DEVNULL)
    run([str(BIN / "airflow"), "variables", "import", "-a", "overwrite",
         str(render(ROOT / "config" / "variables.json", HOME / "variables.json", env))], env,
        stdout=subprocess.DEVNULL)
    run([str(BIN / "airflow"), "pools", "import", str(ROOT / "config" / "pools.json")], env,
        stdout=subprocess.DEVNULL)

    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)
    start("platform", [str(BIN / "creditflow"), "sandbox", "platform", "--host", HOST, "--port", "8701",
                       "--db", f"sqlite:///{VAR}/platform.sqlite"], env)
    start("licensing", [str(BIN / "creditflow"), "sandbox", "licensing", "--host", HOST, "--port", "8702",
                        "--db", f"sqlite:///{VAR}/licensing.sqlite"], env)
    start("api-server", [str(BIN / "airflow"), "api-server", "--host", HOST, "--port", str(PORT)], env)
    start("scheduler", [str(BIN / "airflow"), "scheduler"], env)
    start("dag-processor", [str(BIN / "airflow"), "dag-processor"], env)
    start("triggerer", [str(BIN / "airflow"), "triggerer"], env)
    try:
        return drive(env, state, days)
    except BaseException:
        stop_all()
        raise


def products(env: dict[str, str]) -> list[str]:
    """What the other capabilities make from the demo data (each through its own CLI, as an operator would):
    the inspection plan of the current year and the 双公示 monthly report of the demo's month (a
    mid-period report: the month is not over). Returns what failed."""
    from creditflow.common import TZ

    today = dt.datetime.now(TZ).date()
    failed = []
    plan_dir = VAR / "plans" / str(today.year)
    if not (plan_dir / "plan.json").exists():
        r = subprocess.run([str(BIN / "creditflow"), "plan", "--year", str(today.year), "--out", str(plan_dir),
                            "--case-db", f"sqlite:///{VAR}/casedb.sqlite", "--db", warehouse_url(),
                            "--as-of", today.isoformat(), "--json"],
                           env=env, capture_output=True, text=True)
        if r.returncode == 0:
            log(f"年度监督检查计划 {today.year}: {plan_dir} ({r.stdout.strip()[:160]}…)")
        else:
            log(f"inspection plan failed:\n{failure_cause(r.stderr + r.stdout)}")
            failed.append(f"plan {today.year}")
    last = max(dt.date.fromisoformat(d) for d in json.loads(STATE.read_text())["days"])
    period = f"{last:%Y-%m}"
    report_dir = VAR / "reports" / "monthly" / period
    if not any(report_dir.glob("*.xlsx")):
        r = subprocess.run([str(BIN / "creditflow"), "report", "monthly", "--period", period, "--cut-off",
                            today.isoformat(), "--out", str(report_dir), "--db", warehouse_url()],
                           env=env, capture_output=True, text=True)
        if r.returncode == 0:
            log(f"双公示月报 {period}（截至 {today}）: {report_dir}")
        else:
            log(f"monthly report failed:\n{failure_cause(r.stderr + r.stdout)}")
            failed.append(f"report {period}")
    r = subprocess.run([str(BIN / "python"), "-m", "creditflow.credit.demo", "--db", warehouse_url(),
                        "--platform", f"http://{HOST}:8701"], env=env, capture_output=True, text=True)
    if r.returncode == 0:
        log(f"严重失信名单 / 信用修复: one listing case and one repair (http://localhost:{PORT}/creditflow/credit/)")
    else:
        log(f"credit demo failed:\n{failure_cause(r.stderr + r.stdout)}")
        failed.append("credit demo")
    return failed


def load_history(api: Api, history: list[dt.date]) -> str:
    """Trigger ``sgs_history`` (unpaused with the others) for the history days, all kinds, and wait for it;
    returns the run's state."""
    conf = {"kinds": ["penalty", "license", "coercion"], "first_day": history[0].isoformat(),
            "last_day": history[-1].isoformat()}
    started = time.monotonic()
    while True:
        r = api.call("POST", "/dags/sgs_history/dagRuns", json={"logical_date": None, "conf": conf})
        if r.ok:
            run_id = r.json()["dag_run_id"]
            break
        if r.status_code != 404 or time.monotonic() - started > 300:
            raise SystemExit(f"[demo] could not trigger sgs_history: {r.status_code} {r.text[:300]}")
        time.sleep(3)
    deadline = time.monotonic() + 3600
    while True:
        state = str(api.call("GET", f"/dags/sgs_history/dagRuns/{run_id}").json()["state"])
        if state in ("success", "failed"):
            break
        if time.monotonic() > deadline:
            log("sgs_history did not finish within an hour — see its task logs in the UI")
            return "timeout"
        time.sleep(5)
    for day in history:
        log(f"{day} (history): {day_summary(day)}")
    log(f"sgs_history: {state}")
    if state == "failed":
        why_failed(api, "sgs_history", run_id)
    return state


def drive(env: dict[str, str], state: dict[str, Any], days: list[dt.date]) -> int:
    import sqlalchemy as sa
    from creditflow_sandbox import generator as g

    wait_http(f"http://{HOST}:8701/health", hint="; see .airflow/logs/")
    wait_http(f"http://{HOST}:8702/health", hint="; see .airflow/logs/")
    wait_http(f"http://{HOST}:{PORT}/api/v2/monitor/health", 180, hint="; see .airflow/logs/")
    run([str(BIN / "airflow"), "dags", "reserialize"], env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    api = Api(f"http://{HOST}:{PORT}")
    for dag_id in UNPAUSED:
        r = api.call("PATCH", f"/dags/{dag_id}", json={"is_paused": False})
        if not r.ok:
            log(f"could not unpause {dag_id}: {r.status_code} {r.text[:200]}")
    log("")
    log(f"Airflow UI:        http://localhost:{PORT}   (login admin / admin)")
    log(f"运行概况 / 审核 / 问题数据:  http://localhost:{PORT}/creditflow/  (after logging in)")
    log(f"platform sandbox:  http://{HOST}:8701/docs   licensing sandbox: http://{HOST}:8702/docs")
    log("Airflow CLI:       scripts/airflow <command>   (this demo's environment; see the README)")
    log(f"driving the days {days[0]} … {days[-1]}; Ctrl-C stops everything")
    timeline = g.read_timeline(TIMELINE)
    case_db = sa.create_engine(f"sqlite:///{VAR}/casedb.sqlite")
    licensing_db = sa.create_engine(f"sqlite:///{VAR}/licensing.sqlite")
    history = [dt.date.fromisoformat(d) for d in state.get("history", [])]
    if history and not state.get("history_loaded"):
        # A first load: the week before the demo days, all of it in the past, through sgs_history.
        moved = g.advance_to(g.run_cutoff(history[-1]), timeline, case_db=case_db, licensing_db=licensing_db,
                             drop=DROP, inbox=INBOX)
        log(f"history load {history[0]} … {history[-1]} through sgs_history "
            f"({moved['files_released']} district files arrived) …")
        if load_history(api, history) == "success":  # otherwise the next `make demo` loads the week again
            state["history_loaded"] = "success"
            STATE.write_text(json.dumps(state))
    for day in days:
        if day.isoformat() in state["driven"]:
            continue
        # The run for D sees the world as of its scheduled start, D+1 06:00 — nothing later.
        moved = g.advance_to(g.run_cutoff(day), timeline, case_db=case_db, licensing_db=licensing_db, drop=DROP,
                             inbox=INBOX)
        log(f"{day}: sources as of {g.run_cutoff(day):%Y-%m-%d %H:%M} "
            f"({moved['files_released']} district files arrived)")
        for dag_id in REPORTING:
            create_day_run(api, dag_id, day)
        wait_for_day(api, day)
        log(f"{day}: {day_summary(day)}")
        state["driven"].append(day.isoformat())
        STATE.write_text(json.dumps(state))
    failed = []
    for day in days:
        for dag_id in REPORTING:
            dag_run = day_run(api, dag_id, day)
            if dag_run is None or dag_run["state"] != "success":
                failed.append(f"{dag_id} {day}")
                if dag_run is not None and dag_run["state"] == "failed":
                    why_failed(api, dag_id, str(dag_run["dag_run_id"]))
    if history and state.get("history_loaded") != "success":
        failed.append(f"sgs_history {history[0]} … {history[-1]}")
    failed += products(env)
    for line in end_state():
        log(line)
    log("all demo days driven: " + ("green" if not failed else f"SOME FAILED ({', '.join(failed)}) — see the UI"))
    if os.environ.get("DEMO_EXIT_AFTER_RUNS") == "1":
        stop_all()
        return 0 if not failed else 1
    log(f"the DAGs' own schedule takes over from {state['live_from']}; trigger sgs_review_signoff to sign off")
    while all(p.poll() is None for p in procs):
        time.sleep(2)
    log("a process exited unexpectedly; see .airflow/logs/")
    stop_all()
    return 1


if __name__ == "__main__":
    raise SystemExit(main())
