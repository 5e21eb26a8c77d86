"""``make demo``: the embedded stack on one machine.

Prepares an Airflow home inside the repo (``.airflow/``: SQLite metadata DB, LocalExecutor, simple auth
manager with the demo login admin/admin), loads connections, variables and pools from ``config/``,
seeds the sandboxes once (``var/``), starts the Airflow services and the sandboxes, unpauses the DAGs and
follows the catch-up runs. Ctrl-C stops every process it started. Running it again reuses what exists.

Environment: ``DEMO_DAYS`` (catch-up days of data, default 3), ``DEMO_DECISIONS`` (default 300),
``DEMO_EXIT_AFTER_RUNS=1`` (stop once the catch-up runs finished; exit 1 if any failed — for smoke tests),
``AIRFLOW_PORT`` (default 8080).
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
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from airflow_env import ROOT, airflow_env

BIN = Path(sys.executable).parent
VAR = ROOT / "var"
HOME = ROOT / ".airflow"
PORT = int(os.environ.get("AIRFLOW_PORT", "8080"))
DAYS = int(os.environ.get("DEMO_DAYS", "3"))
DECISIONS = int(os.environ.get("DEMO_DECISIONS", "300"))
DAGS = ["sgs_penalty", "sgs_license", "sgs_coercion", "calendar_watch"]
procs: list[subprocess.Popen] = []


def log(msg: str) -> None:
    print(f"[demo] {msg}", flush=True)


def port_free(port: int) -> bool:
    with socket.socket() as s:
        return s.connect_ex(("127.0.0.1", port)) != 0


def run(cmd: list[str], env: dict[str, str], **kw) -> subprocess.CompletedProcess:  # type: ignore[no-untyped-def]
    return subprocess.run(cmd, env=env, check=True, **kw)


def start(name: str, cmd: list[str], env: dict[str, str]) -> None:
    logf = open(HOME / "logs" / f"{name}.log", "ab")  # noqa: SIM115 — lives as long as the process
    p = subprocess.Popen(cmd, env=env, stdout=logf, stderr=subprocess.STDOUT, start_new_session=True)
    procs.append(p)
    log(f"started {name} (pid {p.pid}, log .airflow/logs/{name}.log)")


def stop_all(*_: object) -> None:
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
    log("stopped")


def render(src: Path, dst: Path, env: dict[str, str]) -> Path:
    dst.write_text(string.Template(src.read_text(encoding="utf-8")).safe_substitute(env), encoding="utf-8")
    return dst


def wait_http(url: str, seconds: float = 120) -> None:
    import requests

    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            if requests.get(url, timeout=2).status_code < 500:
                return
        except requests.RequestException:
            pass
        time.sleep(1)
    raise SystemExit(f"[demo] {url} did not come up; see .airflow/logs/")


def api_token() -> str:
    import requests

    r = requests.post(f"http://127.0.0.1:{PORT}/auth/token", json={"username": "admin", "password": "admin"},
                      timeout=10)
    r.raise_for_status()
    return str(r.json()["access_token"])


def follow_runs(until_done: bool) -> bool:
    """Print run states until every catch-up run has finished; True when all succeeded."""
    import requests

    headers = {"Authorization": f"Bearer {api_token()}"}
    last = ""
    while True:
        states: dict[str, list[str]] = {}
        for dag_id in DAGS:
            r = requests.get(f"http://127.0.0.1:{PORT}/api/v2/dags/{dag_id}/dagRuns", headers=headers,
                             params={"limit": 100}, timeout=10)
            states[dag_id] = [x["state"] for x in r.json().get("dag_runs", [])] if r.ok else ["?"]
        line = "  ".join(f"{d}: " + ",".join(f"{s}={v.count(s)}" for s in sorted(set(v))) for d, v in states.items())
        if line != last:
            log(line)
            last = line
        runs = [s for v in states.values() for s in v]
        expected = [d for d in DAGS if d.startswith("sgs_")]
        done = all(states[d] and all(s in ("success", "failed") for s in states[d]) for d in expected)
        if done:
            return all(s == "success" for s in runs if s in ("success", "failed"))
        if not until_done:
            return True
        time.sleep(10)


def main() -> int:
    for port in (PORT, 8701, 8702):
        if not port_free(port):
            log(f"port {port} is in use: stop what runs there (an earlier demo?) or set AIRFLOW_PORT")
            return 2
    VAR.mkdir(exist_ok=True)
    (HOME / "logs").mkdir(parents=True, exist_ok=True)
    env = {**os.environ, **airflow_env(HOME, PORT)}
    today = dt.date.today()
    start_day = today - dt.timedelta(days=DAYS)
    seeded = VAR / ".seeded.json"
    if seeded.exists():
        start_day = dt.date.fromisoformat(json.loads(seeded.read_text())["start"])
    env["CREDITFLOW_SGS_START"] = start_day.isoformat()
    for key in ("PLATFORM_DB_URL", "LICENSING_DB_URL"):
        env.pop(key, None)

    log("migrating the Airflow metadata DB (SQLite) …")
    run([str(BIN / "airflow"), "db", "migrate"], env, stdout=subprocess.DEVNULL)
    if not seeded.exists():
        log(f"seeding the sandboxes: {DECISIONS} decisions from {start_day} over {DAYS} days …")
        (VAR / "inbox").mkdir(exist_ok=True)
        run([str(BIN / "creditflow"), "generate", "--decisions", str(DECISIONS), "--start", start_day.isoformat(),
             "--days", str(DAYS), "--case-db", f"sqlite:///{VAR}/casedb.sqlite",
             "--licensing-db", f"sqlite:///{VAR}/licensing.sqlite", "--inbox", str(VAR / "inbox"),
             "--manifest", str(VAR / "manifest.jsonl")], env)
        seeded.write_text(json.dumps({"start": start_day.isoformat(), "decisions": DECISIONS}))
    run([str(BIN / "airflow"), "connections", "import", "--overwrite",
         str(render(ROOT / "config" / "connections.json", HOME / "connections.json", env))], env,
        stdout=subprocess.DEVNULL)
    run([str(BIN / "airflow"), "variables", "import", "-a", "overwrite",
         str(render(ROOT / "config" / "variables.json", HOME / "variables.json", env))], env,
        stdout=subprocess.DEVNULL)
    run([str(BIN / "airflow"), "pools", "import", str(ROOT / "config" / "pools.json")], env,
        stdout=subprocess.DEVNULL)

    signal.signal(signal.SIGINT, lambda *a: (stop_all(), sys.exit(0)))
    signal.signal(signal.SIGTERM, lambda *a: (stop_all(), sys.exit(0)))
    start("platform", [str(BIN / "creditflow"), "sandbox", "platform", "--port", "8701",
                       "--db", f"sqlite:///{VAR}/platform.sqlite"], env)
    start("licensing", [str(BIN / "creditflow"), "sandbox", "licensing", "--port", "8702",
                        "--db", f"sqlite:///{VAR}/licensing.sqlite"], env)
    start("api-server", [str(BIN / "airflow"), "api-server", "--port", str(PORT)], env)
    start("scheduler", [str(BIN / "airflow"), "scheduler"], env)
    start("dag-processor", [str(BIN / "airflow"), "dag-processor"], env)
    start("triggerer", [str(BIN / "airflow"), "triggerer"], env)
    try:
        wait_http("http://127.0.0.1:8701/health")
        wait_http("http://127.0.0.1:8702/health")
        wait_http(f"http://127.0.0.1:{PORT}/api/v2/monitor/health", 180)
        run([str(BIN / "airflow"), "dags", "reserialize"], env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        for dag_id in DAGS:
            run([str(BIN / "airflow"), "dags", "unpause", dag_id], env, stdout=subprocess.DEVNULL)
        log("")
        log(f"Airflow UI:        http://localhost:{PORT}   (login admin / admin)")
        log(f"运行概况 / 审核 / 问题数据:  http://localhost:{PORT}/creditflow/  (after logging in)")
        log("platform sandbox:  http://127.0.0.1:8701/docs   licensing sandbox: http://127.0.0.1:8702/docs")
        log(f"catch-up runs from {start_day} are starting; Ctrl-C stops everything")
        once = os.environ.get("DEMO_EXIT_AFTER_RUNS") == "1"
        ok = follow_runs(until_done=True)
        log("all catch-up runs finished: " + ("green" if ok else "SOME FAILED — see the UI"))
        if once:
            stop_all()
            return 0 if ok else 1
        while all(p.poll() is None for p in procs):
            time.sleep(2)
        log("a process exited unexpectedly; see .airflow/logs/")
        stop_all()
        return 1
    except BaseException:
        stop_all()
        raise


if __name__ == "__main__":
    raise SystemExit(main())
