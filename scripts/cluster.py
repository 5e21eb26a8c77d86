"""``make cluster``: the same DAGs on Airflow's distributed executor, on this machine, without Docker.

PostgreSQL is the metadata DB (and the Celery result backend and the warehouse), Redis the Celery broker;
then the api-server, the scheduler, the dag-processor, the triggerer and two Celery workers start, every
one with the environment of :func:`airflow_env.cluster_env` — one JWT secret, one Fernet key — and the
platform and licensing sandboxes beside them. docker-compose.yaml is the same shape in containers (a
test checks that its commands and settings are these).

What it starts, it stops: Ctrl-C, SIGTERM, or ``make cluster-stop`` from another shell (this script's
``stop``: it reads ``<home>/cluster.json``). Each start creates the cluster's databases afresh
(``<name>_airflow``, ``<name>_wh``) and each stop drops them (``CLUSTER_KEEP_DB=1`` keeps them).

The interactive cluster seeds a few days of generated data (``var/cluster/``), starts the DAGs' schedule
at the first of them and lets the scheduler catch up: the three reporting DAGs run side by side and their
tasks spread over both workers (the task instance's *Hostname* in the UI says which: ``worker-1.…`` or
``worker-2.…``). ``CLUSTER_EXIT_AFTER_RUNS=1`` stops once the catch-up runs are done (exit 1 if one failed).

Environment: ``CLUSTER_PORT`` (8090), ``CLUSTER_DAYS`` (3), ``CLUSTER_DECISIONS`` (200), ``CLUSTER_PG_URL``
(``postgresql://postgres@127.0.0.1:5432/postgres``, an admin connection that may create databases),
``CLUSTER_REDIS_URL`` (``redis://127.0.0.1:6379/3``; when nothing answers there, the cluster starts its own
``redis-server``), ``CLUSTER_WORKERS`` (2), ``CLUSTER_LDAP_PORT`` (8389).

Sign-in is the production shape (#19): Airflow's FAB auth manager, people authenticated by a directory over
LDAP. The cluster starts its own OpenLDAP server (Debian's slapd, :mod:`creditflow_sandbox.directory`, in
``<home>/ldap``) with the demo's people (password = user name) and one group per role; the init step
creates the roles (``python -m creditflow_airflow.fab_roles``); login attempts are counted in Redis.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

sys.path.insert(0, str(Path(__file__).resolve().parent))
from airflow_api import Api
from airflow_env import ROOT, cluster_env, fab_ldap_env

BIN = Path(sys.executable).parent
HOST = "127.0.0.1"
REPORTING = ["sgs_penalty", "sgs_license", "sgs_coercion"]


def worker_hostname() -> str:
    """``[core] hostname_callable`` of the cluster's processes: a Celery worker on a shared machine
    names itself (``worker-1.<host>``), so a task instance's *Hostname* tells which worker ran it. On
    separate machines (compose) the plain host name does the same and this is not configured."""
    name = os.environ.get("CREDITFLOW_WORKER_NAME", "")
    host = socket.getfqdn()
    return f"{name}.{host}" if name else host


def log(msg: str) -> None:
    print(f"[cluster] {msg}", flush=True)


def free_port() -> int:
    with socket.socket() as s:
        s.bind((HOST, 0))
        return int(s.getsockname()[1])


def port_open(host: str, port: int) -> bool:
    with socket.socket() as s:
        s.settimeout(1)
        return s.connect_ex((host, port)) == 0


@dataclass
class Settings:
    """One cluster. Every port is configurable so that a test can run one beside ``make demo``."""

    name: str = "creditflow_cluster"
    home: Path = ROOT / ".airflow" / "cluster"
    var: Path = ROOT / "var" / "cluster"
    port: int = 8090
    pg_url: str = "postgresql://postgres@127.0.0.1:5432/postgres"
    redis_url: str | None = "redis://127.0.0.1:6379/3"  # None: start an own redis-server on redis_port
    redis_port: int = 6390
    workers: int = 2
    concurrency: int = 2
    worker_log_ports: tuple[int, ...] = (8795, 8796, 8797, 8798)
    trigger_log_port: int = 8799
    heartbeat_timeout: int = 120
    ldap_port: int = 0  # the directory (slapd) on loopback; 0: any free port
    sgs_start: str | None = None  # CREDITFLOW_SGS_START: where the DAGs' own schedule begins
    extra_env: dict[str, str] = field(default_factory=dict)  # connections/variables (AIRFLOW_CONN_*, …)

    def database_url(self, suffix: str, driver: str = "postgresql+psycopg2") -> str:
        parts = urlsplit(self.pg_url)
        return urlunsplit((driver, parts.netloc, f"/{self.name}_{suffix}", parts.query, ""))

    @property
    def metadata_url(self) -> str:
        return self.database_url("airflow")

    @property
    def warehouse_url(self) -> str:
        return self.database_url("wh")

    @property
    def broker_url(self) -> str:
        return self.redis_url or f"redis://{HOST}:{self.redis_port}/0"

    @property
    def api_url(self) -> str:
        return f"http://{HOST}:{self.port}"


@dataclass
class Service:
    name: str
    argv: list[str]
    env: dict[str, str] = field(default_factory=dict)  # on top of the shared environment


def environment(s: Settings) -> dict[str, str]:
    """The one environment every Airflow process of the cluster runs with."""
    env = cluster_env(s.home, s.port, metadata_url=s.metadata_url, broker_url=s.broker_url,
                      worker_concurrency=s.concurrency, heartbeat_timeout=s.heartbeat_timeout)
    env.update({
        "CREDITFLOW_VAR": str(s.var),
        "AIRFLOW__LOGGING__TRIGGER_LOG_SERVER_PORT": str(s.trigger_log_port),
        "AIRFLOW__CORE__HOSTNAME_CALLABLE": "cluster.worker_hostname",
        # One machine's PostgreSQL (max_connections 100) serves every process of the cluster: small pools.
        "AIRFLOW__DATABASE__SQL_ALCHEMY_POOL_SIZE": "2",
        "AIRFLOW__DATABASE__SQL_ALCHEMY_MAX_OVERFLOW": "6",
        "AIRFLOW__API__WORKERS": "2",
        # the integrity endpoint's per-client rate limits: one count for both API-server workers (keys LIMITS:*)
        "CREDITFLOW_RATE_LIMIT_STORAGE": s.broker_url,
        "PYTHONPATH": os.pathsep.join([env["PYTHONPATH"], str(ROOT / "scripts")]),
    })
    # Sign-in: the FAB auth manager and the directory (its address and service account: written by the
    # cluster's slapd when it starts, Cluster.start_directory); login attempts counted in the broker's Redis.
    directory = s.home / "ldap" / "fab_env.json"
    found = json.loads(directory.read_text(encoding="utf-8")) if directory.exists() else {}
    env.update(fab_ldap_env(s.home, found, rate_limit_storage=s.broker_url))
    for simple in ("AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS", "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE"):
        env.pop(simple, None)
    if s.sgs_start:
        env["CREDITFLOW_SGS_START"] = s.sgs_start
    env.update(s.extra_env)
    return env


def services(s: Settings) -> list[Service]:
    """The processes of the cluster, in start order (the compose file has one service per kind)."""
    airflow = str(BIN / "airflow")
    out = [Service("api-server", [airflow, "api-server"]),  # host and port: [api] host/port of the environment
           Service("scheduler", [airflow, "scheduler"]),
           Service("dag-processor", [airflow, "dag-processor"]),
           Service("triggerer", [airflow, "triggerer"])]
    for i in range(1, s.workers + 1):
        name = f"worker-{i}"
        # Two workers on one machine need their own Celery names and log-server ports; concurrency is
        # [celery] worker_concurrency of the environment.
        out.append(Service(name, [airflow, "celery", "worker", "--celery-hostname", f"{name}@%h"],
                           {"CREDITFLOW_WORKER_NAME": name,
                            "AIRFLOW__LOGGING__WORKER_LOG_SERVER_PORT": str(s.worker_log_ports[i - 1])}))
    return out


def connections_env(warehouse_url: str, case_db_url: str, platform_port: int, licensing_port: int,
                    inbox: Path) -> dict[str, str]:
    """The connections and variables the DAGs need, as AIRFLOW_CONN_* / AIRFLOW_VAR_* (as in compose)."""
    def http(port: int, login: str, password: str, **extra: Any) -> str:
        return json.dumps({"conn_type": "http", "host": HOST, "port": port, "schema": "http", "login": login,
                           "password": password, "extra": extra})

    return {
        "AIRFLOW_CONN_CREDITFLOW_DB": json.dumps({"conn_type": "generic",
                                                  "extra": {"sqlalchemy_url": warehouse_url}}),
        "AIRFLOW_CONN_CASE_DB": json.dumps({"conn_type": "generic", "extra": {"sqlalchemy_url": case_db_url}}),
        "AIRFLOW_CONN_CREDIT_PLATFORM": http(platform_port, "creditflow-demo", "demo-secret", timeout=30,
                                             attempts=6, backoff=0.5),
        "AIRFLOW_CONN_LICENSING_API": http(licensing_port, "creditflow", "demo-licensing", timeout=30, attempts=6),
        "AIRFLOW_VAR_CREDITFLOW_INBOX_DIR": str(inbox),
    }


# --- PostgreSQL and Redis ----------------------------------------------------------------------------


def _admin_engine(s: Settings) -> Any:
    import sqlalchemy as sa

    return sa.create_engine(s.pg_url, isolation_level="AUTOCOMMIT")


def ensure_postgres(s: Settings) -> None:
    """The machine's PostgreSQL (started with ``pg_ctlcluster`` when it is installed but not running)."""
    parts = urlsplit(s.pg_url)
    host, port = parts.hostname or HOST, parts.port or 5432
    if port_open(host, port):
        return
    versions = sorted(Path("/etc/postgresql").glob("*")) if Path("/etc/postgresql").is_dir() else []
    if not versions:
        raise SystemExit(f"[cluster] no PostgreSQL at {host}:{port} and none installed (set CLUSTER_PG_URL)")
    log(f"starting PostgreSQL {versions[-1].name} …")
    subprocess.run(["pg_ctlcluster", "--skip-systemctl-redirect", versions[-1].name, "main", "start"], check=True)
    for _ in range(30):
        if port_open(host, port):
            return
        time.sleep(1)
    raise SystemExit("[cluster] PostgreSQL did not come up")


def create_databases(s: Settings) -> None:
    engine = _admin_engine(s)
    with engine.connect() as conn:
        for suffix in ("airflow", "wh"):
            conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{s.name}_{suffix}" WITH (FORCE)')
            conn.exec_driver_sql(f'CREATE DATABASE "{s.name}_{suffix}"')
    engine.dispose()


def drop_databases(s: Settings) -> None:
    engine = _admin_engine(s)
    with engine.connect() as conn:
        for suffix in ("airflow", "wh"):
            conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{s.name}_{suffix}" WITH (FORCE)')
    engine.dispose()


def redis_reachable(url: str) -> bool:
    parts = urlsplit(url)
    return port_open(parts.hostname or HOST, parts.port or 6379)


# --- the processes -----------------------------------------------------------------------------------


def _start_time(pid: int) -> str | None:
    """The process's start time (clock ticks since boot): a recorded pid is ours only if it still matches."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[19]
    except (OSError, IndexError):
        return None


class Cluster:
    def __init__(self, settings: Settings):
        self.s = settings
        self.env = {**os.environ, **environment(settings)}
        for key in ("PLATFORM_DB_URL", "LICENSING_DB_URL"):
            self.env.pop(key, None)
        self.procs: dict[str, subprocess.Popen] = {}
        self.directory: Any = None  # creditflow_sandbox.directory.Directory, once started
        self.logs = settings.home / "logs"
        self.state_file = settings.home / "cluster.json"

    # preparation: databases, migrations, pools, the warehouse
    def prepare(self) -> None:
        self.logs.mkdir(parents=True, exist_ok=True)
        self.s.var.mkdir(parents=True, exist_ok=True)
        ensure_postgres(self.s)
        create_databases(self.s)
        log(f"databases {self.s.name}_airflow (metadata, Celery results) and {self.s.name}_wh (warehouse) created")
        if self.s.redis_url is None or not redis_reachable(self.s.redis_url):
            if self.s.redis_url is not None:
                log(f"no Redis at {self.s.redis_url}: starting an own redis-server on port {self.s.redis_port}")
                self.s.redis_url = None
                self.env.update(environment(self.s))
            self.start("redis", ["redis-server", "--bind", HOST, "--port", str(self.s.redis_port), "--save", "",
                                 "--appendonly", "no"])
        self.start_directory()
        self.run([str(BIN / "airflow"), "db", "migrate"])
        self.run([str(BIN / "python"), "-m", "creditflow_airflow.fab_roles"])  # the five roles (#19)
        self.run([str(BIN / "creditflow"), "db", "upgrade", "--db", self.s.warehouse_url])
        self.run([str(BIN / "airflow"), "pools", "import", str(ROOT / "config" / "pools.json")])

    def start_directory(self) -> None:
        """The directory people sign in with (slapd in ``<home>/ldap``) and the FAB/LDAP environment for it."""
        from creditflow_sandbox.directory import Directory

        port = self.s.ldap_port or free_port()
        self.directory = Directory.start(self.s.home / "ldap", port)
        self.procs["ldap"] = self.directory.process
        self._save_state()
        log(f"directory (slapd) on ldap://{HOST}:{port}: {self.s.home / 'ldap'}")
        self.env.update(environment(self.s))  # now with the FAB auth manager and this directory

    def run(self, argv: list[str]) -> None:
        name = Path(argv[0]).name + "-" + argv[-1 if argv[1] == "-m" else 1]
        with open(self.logs / f"init-{name}.log", "ab") as out:
            done = subprocess.run(argv, env=self.env, stdout=out, stderr=subprocess.STDOUT)
        if done.returncode:
            raise RuntimeError(f"{' '.join(argv[:3])} failed: see {self.logs / f'init-{name}.log'}")

    def start(self, name: str, argv: list[str], env: dict[str, str] | None = None) -> subprocess.Popen:
        out = open(self.logs / f"{name}.log", "ab")  # noqa: SIM115 — lives as long as the process
        p = subprocess.Popen(argv, env={**self.env, **(env or {})}, stdout=out, stderr=subprocess.STDOUT,
                             start_new_session=True, cwd=ROOT)
        self.procs[name] = p
        self._save_state()
        log(f"started {name} (pid {p.pid}, log {self.logs / (name + '.log')})")
        return p

    def start_all(self) -> None:
        for svc in services(self.s):
            self.start(svc.name, svc.argv, svc.env)

    def _save_state(self) -> None:
        self.state_file.write_text(json.dumps({
            "controller": {"pid": os.getpid(), "start": _start_time(os.getpid())},
            "processes": {n: {"pid": p.pid, "start": _start_time(p.pid)} for n, p in self.procs.items()},
            "settings": {"name": self.s.name, "pg_url": self.s.pg_url, "port": self.s.port,
                         "redis_url": self.s.redis_url, "sgs_start": self.s.sgs_start,
                         "keep_db": os.environ.get("CLUSTER_KEEP_DB") == "1"},  # scripts/airflow --cluster reads them
        }))

    def wait_ready(self, timeout: float = 300) -> None:
        """api-server, scheduler, dag-processor and triggerer healthy; every worker connected to the broker."""
        import requests

        deadline = time.monotonic() + timeout
        workers = [n for n in self.procs if n.startswith("worker-")]
        while True:
            self.check_alive()
            try:
                health = requests.get(f"{self.s.api_url}/api/v2/monitor/health", timeout=3).json()
            except (requests.RequestException, ValueError):
                health = {}
            healthy = all((health.get(c) or {}).get("status") == "healthy"
                          for c in ("metadatabase", "scheduler", "triggerer", "dag_processor"))
            ready = [w for w in workers if " ready." in (self.logs / f"{w}.log").read_text(errors="replace")]
            if healthy and len(ready) == len(workers):
                return
            if time.monotonic() > deadline:
                raise RuntimeError(f"cluster not ready after {timeout:.0f}s: health={health}, workers ready={ready}")
            time.sleep(2)

    def check_alive(self) -> None:
        dead = {n: p.returncode for n, p in self.procs.items() if p.poll() is not None}
        if dead:
            raise RuntimeError(f"cluster processes exited: {dead}; see {self.logs}")

    def kill(self, name: str) -> None:
        """SIGKILL a process with everything it started (a worker: its pool and the running tasks) —
        what a lost machine or the OOM killer does."""
        import psutil

        p = self.procs[name]
        try:
            tree = [psutil.Process(p.pid), *psutil.Process(p.pid).children(recursive=True)]
        except psutil.NoSuchProcess:
            tree = []
        for proc in tree:
            with contextlib.suppress(psutil.NoSuchProcess):
                proc.kill()
        with contextlib.suppress(ProcessLookupError):
            os.killpg(p.pid, signal.SIGKILL)
        p.wait(timeout=10)
        del self.procs[name]
        self._save_state()
        log(f"killed {name} (pid {p.pid}) with SIGKILL")

    def stop(self) -> None:
        stop_processes({n: p.pid for n, p in self.procs.items()})
        for p in self.procs.values():
            with contextlib.suppress(subprocess.TimeoutExpired):
                p.wait(timeout=1)
        self.procs.clear()
        if os.environ.get("CLUSTER_KEEP_DB") != "1":
            with contextlib.suppress(Exception):
                drop_databases(self.s)
        with contextlib.suppress(FileNotFoundError):
            self.state_file.unlink()
        log("stopped")


def stop_processes(pids: dict[str, int], grace: float = 30) -> None:
    """SIGTERM each process group (workers first: they finish or hand back their tasks), then SIGKILL
    what is left after ``grace`` seconds."""
    order = sorted(pids, key=lambda n: (not n.startswith("worker-"), n in ("redis", "ldap")))
    for name in order:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(pids[name], signal.SIGTERM)
    deadline = time.monotonic() + grace
    for name in order:
        while time.monotonic() < deadline and _group_alive(pids[name]):
            time.sleep(0.3)
        if _group_alive(pids[name]):
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(pids[name], signal.SIGKILL)


def _group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except (ProcessLookupError, PermissionError):
        return False
    try:  # a zombie leader (our own child, not yet waited for) counts as gone
        return Path(f"/proc/{pgid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def stop_recorded(home: Path) -> int:
    """``make cluster-stop``: stop the cluster recorded in ``<home>/cluster.json``."""
    state_file = home / "cluster.json"
    if not state_file.exists():
        log("no cluster is running (nothing recorded)")
        return 0
    state = json.loads(state_file.read_text())
    ctl = state.get("controller") or {}
    if ctl.get("pid") and _start_time(ctl["pid"]) == ctl.get("start") and ctl["pid"] != os.getpid():
        log(f"asking the cluster (pid {ctl['pid']}) to stop …")
        os.kill(ctl["pid"], signal.SIGTERM)
        for _ in range(120):
            if _start_time(ctl["pid"]) != ctl.get("start"):
                break
            time.sleep(0.5)
    left = {n: p["pid"] for n, p in (state.get("processes") or {}).items()
            if _start_time(p["pid"]) == p.get("start")}
    if left:
        log(f"stopping {', '.join(left)} …")
        stop_processes(left)
    settings = state.get("settings") or {}
    if not settings.get("keep_db") and settings.get("name"):
        with contextlib.suppress(Exception):
            drop_databases(Settings(name=settings["name"], pg_url=settings["pg_url"]))
    with contextlib.suppress(FileNotFoundError):
        state_file.unlink()
    log("stopped")
    return 0


# --- the interactive cluster (make cluster) ----------------------------------------------------------


def seed(s: Settings, days: int, decisions: int) -> tuple[dt.date, dt.date]:
    """A few past days of generated data: the case system, the licensing system, district files (in the
    inbox with their arrival times) — every change already applied."""
    from creditflow.common import DAILY_RUN_DELAY, TZ
    from creditflow_sandbox import generator as g

    last = (dt.datetime.now(TZ) - DAILY_RUN_DELAY).date() - dt.timedelta(days=1)
    first = last - dt.timedelta(days=max(1, days) - 1)
    cfg = g.GeneratorConfig(decisions=decisions, start=first, days=(last - first).days + 1, horizon=last)
    counts = g.generate_to(cfg, case_db_url=f"sqlite:///{s.var}/casedb.sqlite",
                           licensing_db_url=f"sqlite:///{s.var}/licensing.sqlite", inbox=s.var / "inbox",
                           manifest=s.var / "manifest.jsonl")
    for kind in ("penalty", "license", "coercion"):
        (s.var / "inbox" / kind).mkdir(parents=True, exist_ok=True)
    log(f"seeded {first} … {last}: {counts}")
    return first, last


def main(argv: list[str]) -> int:
    if argv[:1] == ["stop"]:
        return stop_recorded(Settings().home)
    s = Settings(port=int(os.environ.get("CLUSTER_PORT", "8090")),
                 pg_url=os.environ.get("CLUSTER_PG_URL", Settings.pg_url),
                 redis_url=os.environ.get("CLUSTER_REDIS_URL", Settings.redis_url) or None,
                 workers=int(os.environ.get("CLUSTER_WORKERS", "2")),
                 ldap_port=int(os.environ.get("CLUSTER_LDAP_PORT", "8389")))
    platform_port, licensing_port = 8711, 8712
    for port in (s.port, platform_port, licensing_port, *s.worker_log_ports[:s.workers], s.trigger_log_port,
                 s.ldap_port):
        if port_open(HOST, port):
            log(f"port {port} is in use: an earlier cluster? (`make cluster-stop`) — or set CLUSTER_PORT")
            return 2
    if (s.home / "cluster.json").exists():
        stop_recorded(s.home)
    import shutil

    shutil.rmtree(s.var, ignore_errors=True)
    s.var.mkdir(parents=True)
    first, last = seed(s, int(os.environ.get("CLUSTER_DAYS", "3")), int(os.environ.get("CLUSTER_DECISIONS", "200")))
    s.sgs_start = first.isoformat()
    s.extra_env = connections_env(s.warehouse_url, f"sqlite:///{s.var}/casedb.sqlite", platform_port,
                                  licensing_port, s.var / "inbox")
    cluster = Cluster(s)

    def on_signal(*_: object) -> None:
        cluster.stop()
        sys.exit(0)

    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)
    try:
        cluster.prepare()
        creditflow = str(BIN / "creditflow")
        cluster.start("platform", [creditflow, "sandbox", "platform", "--host", HOST, "--port", str(platform_port),
                                   "--db", f"sqlite:///{s.var}/platform.sqlite"])
        cluster.start("licensing", [creditflow, "sandbox", "licensing", "--host", HOST, "--port",
                                    str(licensing_port), "--db", f"sqlite:///{s.var}/licensing.sqlite"])
        cluster.start_all()
        cluster.wait_ready()
        api = Api(s.api_url)
        api.wait_for_dags(REPORTING)
        for dag_id in REPORTING:
            api.unpause(dag_id)
        log("")
        log(f"Airflow UI: http://localhost:{s.port} — sign in with the directory (admin / admin 运维, reviewer1, "
            "reviewer2, chief, viewer: password = user name) — CeleryExecutor, workers: "
            + ", ".join(n for n in cluster.procs if n.startswith("worker-")))
        log(f"catching up {first} … {last} on {len(REPORTING)} DAGs; Ctrl-C or `make cluster-stop` stops everything")
        return follow(cluster, api, first, last)
    except BaseException:
        cluster.stop()
        raise


def follow(cluster: Cluster, api: Api, first: dt.date, last: dt.date) -> int:
    expected = ((last - first).days + 1) * len(REPORTING)
    reported = ""
    while True:
        cluster.check_alive()
        states: dict[str, int] = {}
        for dag_id in REPORTING:
            for run in api.json(f"/dags/{dag_id}/dagRuns", limit=100).get("dag_runs", []):
                states[run["state"]] = states.get(run["state"], 0) + 1
        line = ", ".join(f"{k}: {v}" for k, v in sorted(states.items()))
        if line != reported:
            log(f"runs — {line}")
            reported = line
        done = states.get("success", 0) + states.get("failed", 0)
        if done >= expected and os.environ.get("CLUSTER_EXIT_AFTER_RUNS") == "1":
            cluster.stop()
            return 0 if not states.get("failed") else 1
        time.sleep(10)


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
