"""Benchmark of the 诚信审核 endpoint (by hand, not a test): single checks at a fixed rate against the real
Airflow API server with the ``creditflow_plugin`` app, its warehouse in PostgreSQL with 1M parties and
5M penalties. Target: p99 ≤ 50 ms at 200 requests/s on loopback.

    python bench/integrity.py [--parties 1000000] [--penalties-per-party 5] [--rate 50,200] [--seconds 30]
                              [--pg postgresql://postgres@127.0.0.1:5432/postgres] [--keep] [--db NAME]
                              [--workers 2] [--control /api/v2/version,/ui/auth/me] [--repeat 1]
                              [--auth client,person] [--limit-storage redis://127.0.0.1:6379/6] [--profile DIR]

1. creates its own database ``cf_bench_integrity_<pid>`` (dropped at the end unless ``--keep``), brings it to
   the latest schema, loads the parties' codes (valid USCCs) with COPY and expands them in SQL into
   penalties (all states, dates over 4 years), 1% listed cases and some repairs; ANALYZE;
2. starts ``airflow api-server`` (its own AIRFLOW_HOME in a temp folder, Airflow's metadata in a second
   database ``cf_bench_airflow_<pid>`` — ``<--db>_airflow`` with ``--db`` — as in production: Airflow checks
   every token against it —, the project's plugins, ``creditflow_db`` pointing at the benchmark database) and
   takes a person's JWT from ``POST /auth/token``; registers a machine client (``creditflow.credit.clients``,
   limit 100000/second so the limiter counts every request but never refuses) for its credential;
3. sends ``GET /creditflow/api/integrity?code=…`` open-loop at ``--rate`` per second (each request starts on
   schedule whatever earlier ones do, so queueing counts) for ``--seconds``, codes drawn at random (listed,
   penalised and clean parties alike), after a warm-up, once per ``--auth`` (``client``: the machine client's
   ``cfk_…`` credential — registry read and rate-limit count on every request; ``person``: the viewer's JWT);
   every request is a real check, audit row included. ``--limit-storage`` counts the limits in Redis (as the
   cluster does) instead of per worker in memory; ``--profile DIR`` samples the API-server workers with py-spy
   (``PY_SPY`` names the binary; not installed in the project's venv) during each endpoint step;
4. drives the control paths the same way right after, on the same server (``--control``; default
   ``/api/v2/version`` — no authentication — and ``/ui/auth/me`` — Airflow's own trivial route behind its
   token check): the floor of the API server itself;
5. prints, per path, latency percentiles (ms), achieved rate, errors, the load average before the step and the
   CPU seconds of the API server, PostgreSQL and the load generator, as JSON — record them in docs/benchmarks.md.

``--db NAME`` keeps the loaded benchmark database under that name and reuses it on the next run (the load takes
more than a minute); without it a fresh ``cf_bench_integrity_<pid>`` is loaded and dropped.
"""

from __future__ import annotations

import argparse
import asyncio
import io
import json
import os
import random
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
#: BENCH_CONTROL_PATH=/api/v2/version (say): the control path(s) to drive after the endpoint (``--control``).
CONTROL_PATH = os.environ.get("BENCH_CONTROL_PATH", "")
ENDPOINT = "/creditflow/api/integrity"
sys.path.insert(0, str(ROOT / "scripts"))


def uscc(i: int) -> str:
    from creditflow.core import identifiers as ids

    body = f"{i:08d}"
    first17 = "91440400" + body + ids.org_code_check_char(body)
    return first17 + ids.uscc_check_char(first17)


def load(url: str, parties: int, per_party: int) -> list[str]:
    import sqlalchemy as sa
    from creditflow.core import warehouse as wh

    wh.upgrade(url)
    engine = sa.create_engine(url)
    codes = [uscc(i) for i in range(parties)]
    t = time.perf_counter()
    raw = engine.raw_connection()
    try:
        cur = raw.cursor()
        cur.execute("CREATE UNLOGGED TABLE bench_party (n integer, code varchar(18))")
        buf = io.StringIO("".join(f"{i}\t{c}\n" for i, c in enumerate(codes)))
        cur.copy_expert("COPY bench_party (n, code) FROM STDIN", buf)
        # Penalties: per party, decisions spread over 2023-2026; statuses and classes mixed like real data.
        cur.execute(f"""
            INSERT INTO cf_credit_penalty (penalty_id, natural_key, party_key, party_type, party_name, doc_no,
                decision_date, categories, fine_yuan, authority_name, regime_id, penalty_class, published, repairable,
                publicity_min_until, publicity_max_until, earliest_repair, status, source_status, updated_at)
            SELECT 'case_db:B' || p.n || '-' || k, '珠应急罚〔2026〕' || p.n || '-' || k || '号|' || p.code, p.code,
                   '法人及非法人组织', '企业' || p.n, '珠应急罚〔2026〕' || p.n || '-' || k || '号',
                   to_char(d, 'YYYY-MM-DD'), CASE WHEN (p.n + k) % 20 = 0 THEN '罚款;责令停产停业' ELSE '罚款' END,
                   ((p.n * 7 + k) % 40) * 10000, '珠海市应急管理局',
                   CASE WHEN d < date '2026-04-01' THEN 'ndrc_order_58' ELSE 'ndrc_order_36' END,
                   CASE WHEN d < date '2026-04-01' THEN 'safety_production' ELSE 'general' END, true, true,
                   to_char(d + interval '12 months', 'YYYY-MM-DD'), to_char(d + interval '36 months', 'YYYY-MM-DD'),
                   to_char(d + interval '12 months', 'YYYY-MM-DD'),
                   CASE WHEN (p.n + k) % 50 = 0 THEN 'repaired' WHEN d < date '2023-12-01' THEN 'ended'
                        ELSE 'publicising' END, 'VALID', now()::text
              FROM bench_party p, generate_series(1, {per_party}) AS k,
                   LATERAL (SELECT date '2023-01-02' + ((p.n * 37 + k * 101) % 1400) AS d) AS dd""")
        cur.execute("""
            INSERT INTO cf_credit_case (case_id, situation_id, party_key, party_type, party_name, facts, basis,
                authority_name, authority_uscc, state, list_start, list_end, decided_on, created_on, updated_at)
            SELECT 'SX-art7_1-B' || n, 'art7_1', code, '法人及非法人组织', '企业' || n, '无证经营', '部令11号第七条',
                   '珠海市应急管理局', '11440400MB2C123457',
                   CASE WHEN n % 300 = 0 THEN 'removed' ELSE 'published' END,
                   '2025-06-01', '2028-06-01', '2025-06-01', '2025-05-01', now()::text
              FROM bench_party WHERE n % 100 = 0""")
        cur.execute("DROP TABLE bench_party")
        raw.commit()
        raw.dbapi_connection.autocommit = True  # type: ignore[union-attr]
        cur = raw.cursor()
        cur.execute("SELECT count(*) FROM cf_credit_penalty")
        loaded = cur.fetchone()[0]
        cur.execute("VACUUM ANALYZE cf_credit_penalty")
        cur.execute("VACUUM ANALYZE cf_credit_case")
    finally:
        raw.close()
        engine.dispose()
    took = round(time.perf_counter() - t)
    print(json.dumps({"step": "load", "parties": parties, "penalties": loaded, "seconds": took}), flush=True)
    return codes


def start_api_server(db_url: str, port: int, metadata_url: str | None = None,
                     workers: int = 2, limit_storage: str = "") -> tuple[subprocess.Popen, str]:
    from airflow_env import airflow_env

    home = Path(tempfile.mkdtemp(prefix="bench-airflow-"))
    env = {**os.environ, **airflow_env(home, port=port)}
    env["AIRFLOW_CONN_CREDITFLOW_DB"] = json.dumps({"conn_type": "generic", "extra": {"sqlalchemy_url": db_url}})
    env["AIRFLOW__API__WORKERS"] = str(workers)
    env["AIRFLOW__LOGGING__LOGGING_LEVEL"] = "WARNING"
    env["CREDITFLOW_RATE_LIMIT_STORAGE"] = limit_storage
    if metadata_url:  # Airflow's metadata in PostgreSQL, as in production (its token checks query it per request)
        env["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"] = metadata_url
    airflow = str(Path(sys.executable).parent / "airflow")
    subprocess.run([airflow, "db", "migrate"], env=env, check=True, capture_output=True)
    log = open(home / "api-server.log", "w")  # noqa: SIM115 — the server's lifetime
    proc = subprocess.Popen([airflow, "api-server", "--port", str(port)], env=env, stdout=log,
                            stderr=subprocess.STDOUT, start_new_session=True)
    import requests

    deadline = time.monotonic() + 120
    while True:
        try:
            r = requests.post(f"http://127.0.0.1:{port}/auth/token", json={"username": "viewer", "password": "viewer"},
                              timeout=5)
            if r.status_code == 201:
                return proc, str(r.json()["access_token"])
        except requests.RequestException:
            pass
        if time.monotonic() > deadline or proc.poll() is not None:
            stop(proc)
            raise RuntimeError(f"api-server did not start: see {home / 'api-server.log'}")
        time.sleep(1)


def stop(proc: subprocess.Popen) -> None:
    try:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=30)
    except (ProcessLookupError, subprocess.TimeoutExpired):
        os.killpg(proc.pid, signal.SIGKILL)


class _Conn:
    """One keep-alive HTTP/1.1 connection: a request out, a response (status, body) back. A hand-written client,
    because a general one (httpx) costs more CPU per request than the endpoint on this 2-core machine."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter):
        self.reader, self.writer = reader, writer

    async def get(self, raw_request: bytes) -> tuple[int, bytes]:
        self.writer.write(raw_request)
        head = await self.reader.readuntil(b"\r\n\r\n")
        status = int(head[9:12])
        length = 0
        for line in head.split(b"\r\n"):
            if line[:15].lower() == b"content-length:":
                length = int(line[15:])
        return status, await self.reader.readexactly(length)


async def drive(port: int, token: str, codes: list[str], rate: float, seconds: float, path: str = ENDPOINT,
                connections: int = 64) -> dict:
    from urllib.parse import quote

    latencies: list[float] = []
    errors: dict[str, int] = {}
    rng = random.Random(7)
    idle: asyncio.Queue[_Conn] = asyncio.Queue()
    for _ in range(connections):
        idle.put_nowait(_Conn(*await asyncio.open_connection("127.0.0.1", port)))

    def request(code: str) -> bytes:
        target = f"{ENDPOINT}?code={quote(code)}" if path == ENDPOINT else path
        return (f"GET {target} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nAuthorization: Bearer {token}\r\n"
                "Accept: application/json\r\n\r\n").encode()

    async def one(code: str, record: bool) -> None:
        t = time.perf_counter()
        conn = await idle.get()
        key = None
        try:
            status, body = await asyncio.wait_for(conn.get(request(code)), timeout=30)
            if status != 200 or (path == ENDPOINT and b'"valid":true' not in body.replace(b" ", b"")):
                key = f"HTTP {status}"
            idle.put_nowait(conn)
        except (TimeoutError, OSError, asyncio.IncompleteReadError) as exc:
            key = type(exc).__name__
            conn.writer.close()
            idle.put_nowait(_Conn(*await asyncio.open_connection("127.0.0.1", port)))
        if record:
            latencies.append((time.perf_counter() - t) * 1000)
            if key:
                errors[key] = errors.get(key, 0) + 1

    elapsed = 0.0
    for phase, length in (("warmup", min(5.0, seconds / 4)), ("measure", seconds)):
        tasks = []
        start = time.perf_counter()
        for i in range(int(rate * length)):
            delay = start + i / rate - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            tasks.append(asyncio.create_task(one(rng.choice(codes), phase == "measure")))
        await asyncio.gather(*tasks)
        elapsed = time.perf_counter() - start
    while not idle.empty():
        idle.get_nowait().writer.close()
    latencies.sort()

    def pct(p: float) -> float:
        return round(latencies[min(len(latencies) - 1, int(p / 100 * len(latencies)))], 1)

    return {"requests": len(latencies), "achieved_rate": round(len(latencies) / elapsed, 1), "p50_ms": pct(50),
            "p90_ms": pct(90), "p99_ms": pct(99), "max_ms": round(latencies[-1], 1), "errors": errors}


def _cpu_seconds(pids: list[int]) -> float:
    """CPU seconds (user + system) of these processes and their children, alive now."""
    import psutil

    total = 0.0
    for pid in pids:
        try:
            procs = [psutil.Process(pid)]
            procs += procs[0].children(recursive=True)
        except psutil.NoSuchProcess:
            continue
        for proc in procs:
            try:
                t = proc.cpu_times()
                total += t.user + t.system
            except psutil.NoSuchProcess:
                pass
    return total


def _postgres_pids(databases: tuple[str, ...]) -> list[int]:
    """The PostgreSQL backends serving these databases (their process title names the database), not those of
    other work on the machine."""
    import psutil

    out = []
    for p in psutil.process_iter(["name", "cmdline"]):
        title = " ".join(p.info["cmdline"] or [])
        if (p.info["name"] or "").startswith("postgres") and any(f" {db} " in f" {title} " for db in databases):
            out.append(p.pid)
    return out


def register_client(url: str) -> str:
    """A machine client in the benchmark warehouse; its credential (a new one per run: ids are never reused)."""
    from creditflow.core import warehouse as wh
    from creditflow.credit import clients

    engine = wh.engine_from_url(url)
    try:
        return clients.add(engine, f"bench-{os.getpid()}", "压测客户端", by="bench", rate_limit="100000/second")
    finally:
        engine.dispose()


def _profile(server_pid: int, seconds: float, out: Path) -> list[subprocess.Popen]:
    """py-spy on each API-server worker (the server's children) for ``seconds``: collapsed stacks to ``out``."""
    import psutil

    spy = os.environ.get("PY_SPY", "py-spy")
    procs = []
    for child in psutil.Process(server_pid).children(recursive=True):
        target = out.with_name(f"{out.stem}-{child.pid}.txt")
        procs.append(subprocess.Popen([spy, "record", "--pid", str(child.pid), "--duration", str(int(seconds)),
                                       "--rate", "200", "--format", "raw", "--nonblocking", "--output", str(target)],
                                      stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
    return procs


def measure(port: int, token: str, codes: list[str], rate: float, seconds: float, path: str, server_pid: int,
            loop_factory: Any = None, databases: tuple[str, ...] = (), profile: Path | None = None) -> dict:
    """One step: drive ``path`` at ``rate`` and account where the CPU went (server, PostgreSQL, load generator)."""
    import resource

    load_before = os.getloadavg()
    pg0 = {p: _cpu_seconds([p]) for p in _postgres_pids(databases)}
    cpu0 = (_cpu_seconds([server_pid]), 0.0, time.process_time())
    r0 = resource.getrusage(resource.RUSAGE_SELF)
    wall = time.perf_counter()
    runner = asyncio.Runner(loop_factory=loop_factory) if loop_factory else asyncio.Runner()
    spies = _profile(server_pid, seconds + min(5.0, seconds / 4), profile) if profile else []
    with runner:
        result = runner.run(drive(port, token, codes, rate, seconds, path))
    for spy in spies:
        spy.wait(timeout=60)
    wall = time.perf_counter() - wall
    r1 = resource.getrusage(resource.RUSAGE_SELF)
    pg1 = {p: _cpu_seconds([p]) for p in _postgres_pids(databases)}  # backends opened during the step count whole
    cpu1 = (_cpu_seconds([server_pid]), sum(t - pg0.get(p, 0.0) for p, t in pg1.items()), time.process_time())
    n = max(1, int(rate * (seconds + min(5.0, seconds / 4))))  # requests sent, warm-up included
    result.update(
        path=path, rate=rate, seconds=seconds, wall_s=round(wall, 1), load_before=[round(x, 2) for x in load_before],
        cpu_s={"api_server": round(cpu1[0] - cpu0[0], 1), "postgres": round(cpu1[1] - cpu0[1], 1),
               "loadgen": round((r1.ru_utime + r1.ru_stime) - (r0.ru_utime + r0.ru_stime), 1)},
        cpu_ms_per_request={"api_server": round((cpu1[0] - cpu0[0]) * 1000 / n, 2),
                            "postgres": round((cpu1[1] - cpu0[1]) * 1000 / n, 2),
                            "loadgen": round(((r1.ru_utime + r1.ru_stime) - (r0.ru_utime + r0.ru_stime)) * 1000 / n,
                                             2)})
    return result


def in_process(url: str, codes: list[str], n: int, credential: str, limit_storage: str) -> None:
    """The plugin's own part of a check, without HTTP or Airflow: ``n`` single checks through
    ``creditflow_ui.credit_api._api_check`` (registry read, limit count, the check, the audit rows queued) for a
    machine client and for a person, each under cProfile; prints CPU ms per check and the top functions."""
    import cProfile
    import pstats

    os.environ["AIRFLOW_CONN_CREDITFLOW_DB"] = json.dumps({"conn_type": "generic", "extra": {"sqlalchemy_url": url}})
    os.environ["CREDITFLOW_RATE_LIMIT_STORAGE"] = limit_storage
    sys.path[:0] = [str(ROOT / "include"), str(ROOT / "plugins")]
    from creditflow_ui import credit_api, state

    class Person:
        roles = ("Viewer",)

        def get_id(self) -> str:
            return "viewer"

    rng = random.Random(11)
    for who, caller in (("client", credit_api.Presented(credential)), ("person", Person())):
        for code in rng.sample(codes, 50):  # warm: pools, compiled statements, the limiter's script
            credit_api._api_check([code], None, caller)
        picks = rng.sample(codes, n)
        prof = cProfile.Profile(time.process_time)
        cpu, wall = time.process_time(), time.perf_counter()
        prof.enable()
        for code in picks:
            credit_api._api_check([code], None, caller)
        prof.disable()
        cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
        print(json.dumps({"step": "in_process", "auth": who, "checks": n, "cpu_ms_per_check": round(cpu * 1000 / n, 3),
                          "wall_ms_per_check": round(wall * 1000 / n, 3), "limit_storage": limit_storage or "memory"}),
              flush=True)
        out = io.StringIO()
        pstats.Stats(prof, stream=out).sort_stats("cumulative").print_stats(28)
        print(out.getvalue(), flush=True)
    state.close()


def _loop_factory() -> Any:
    """uvloop for the load generator when it is installed (less of its CPU taken from the server's 2 cores)."""
    try:
        import uvloop
    except ImportError:
        return None
    return uvloop.new_event_loop


def _prepare(admin: Any, base: Any, name: str, args: argparse.Namespace) -> tuple[str, list[str]]:
    """The benchmark database: loaded now, or (``--db``) reused when it already holds the data."""
    import sqlalchemy as sa

    url = base.set(database=name).render_as_string(hide_password=False)
    with admin.connect() as conn:
        exists = conn.exec_driver_sql("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).first()
        if not exists:
            conn.exec_driver_sql(f"CREATE DATABASE {name}")
    if exists:
        engine = sa.create_engine(url)
        try:
            with engine.connect() as conn:
                loaded = conn.exec_driver_sql("SELECT count(*) FROM cf_credit_penalty").scalar()
        except sa.exc.ProgrammingError:
            loaded = 0
        finally:
            engine.dispose()
        if loaded == args.parties * args.penalties_per_party:
            print(json.dumps({"step": "load", "reused": name, "penalties": loaded}), flush=True)
            return url, [uscc(i) for i in range(args.parties)]
        with admin.connect() as conn:
            conn.exec_driver_sql(f"DROP DATABASE {name} WITH (FORCE)")
            conn.exec_driver_sql(f"CREATE DATABASE {name}")
    return url, load(url, args.parties, args.penalties_per_party)


def main() -> int:
    from benchenv import ensure_keyring

    ensure_keyring()  # #19 §3: the warehouse and the pipeline seal personal data
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--parties", type=int, default=1_000_000)
    parser.add_argument("--penalties-per-party", type=int, default=5)
    parser.add_argument("--rate", default="200", help="requests per second; several (50,200) run one after another")
    parser.add_argument("--seconds", type=float, default=30)
    parser.add_argument("--pg", default="postgresql://postgres@127.0.0.1:5432/postgres")
    parser.add_argument("--port", type=int, default=28391)
    parser.add_argument("--keep", action="store_true", help="keep the benchmark database")
    parser.add_argument("--db", default="", help="name of a benchmark database to keep and reuse across runs")
    parser.add_argument("--workers", type=int, default=int(os.environ.get("BENCH_API_WORKERS", "2")),
                        help="[api] workers of the API server (default 2, as docker-compose.yaml and cluster.py)")
    parser.add_argument("--control", default=CONTROL_PATH or "/api/v2/version,/ui/auth/me",
                        help="control paths driven after the endpoint at the same rate ('' for none)")
    parser.add_argument("--repeat", type=int, default=1, help="run every (rate, path) step this many times")
    parser.add_argument("--auth", default="client,person",
                        help="who calls the endpoint: client (a machine client's credential), person (a JWT)")
    parser.add_argument("--limit-storage", default="",
                        help="the rate limits' storage (CREDITFLOW_RATE_LIMIT_STORAGE; default: memory per worker)")
    parser.add_argument("--profile", default="", help="folder for py-spy's samples of each endpoint step")
    parser.add_argument("--in-process", type=int, default=0,
                        help="instead of the server: N checks in this process under cProfile (client, person)")
    parser.add_argument("--sqlite-metadata", action="store_true",
                        help="Airflow's metadata in SQLite (the demo's setup) instead of a PostgreSQL database")
    args = parser.parse_args()
    import sqlalchemy as sa

    name = args.db or f"cf_bench_integrity_{os.getpid()}"
    meta = f"{args.db}_airflow" if args.db else f"cf_bench_airflow_{os.getpid()}"
    admin = sa.create_engine(args.pg, isolation_level="AUTOCOMMIT")
    if not args.in_process:  # no API server, no Airflow metadata
        with admin.connect() as conn:
            conn.exec_driver_sql(f"CREATE DATABASE {meta}")
    base = sa.engine.make_url(args.pg).set(drivername="postgresql+psycopg2")
    metadata_url = base.set(database=meta).render_as_string(hide_password=False) if not args.sqlite_metadata else None
    proc = None
    try:
        url, codes = _prepare(admin, base, name, args)
        credential = register_client(url)
        if args.in_process:
            in_process(url, codes, args.in_process, credential, args.limit_storage)
            return 0
        proc, token = start_api_server(url, args.port, metadata_url, args.workers, args.limit_storage)
        steps = [(ENDPOINT, who) for who in args.auth.split(",") if who]
        steps += [(p, "person") for p in args.control.split(",") if p]
        met = True
        profile = Path(args.profile) if args.profile else None
        if profile:
            profile.mkdir(parents=True, exist_ok=True)
        for rate in (float(r) for r in str(args.rate).split(",")):
            for n in range(args.repeat):
                for path, who in steps:
                    spy = profile / f"{who}-{int(rate)}-{n}.txt" if profile and path == ENDPOINT else None
                    result = measure(args.port, credential if who == "client" else token, codes, rate, args.seconds,
                                     path, proc.pid, _loop_factory(), (name, meta), spy)
                    result.update(bench="integrity", parties=args.parties, auth=who,
                                  penalties=args.parties * args.penalties_per_party, api_workers=args.workers,
                                  limit_storage=args.limit_storage or "memory")
                    if path == ENDPOINT:
                        result.update(target="p99 <= 50 ms", met=result["p99_ms"] <= 50 and not result["errors"])
                        met = met and result["met"]
                    print(json.dumps(result, ensure_ascii=False), flush=True)
        return 0 if met else 1
    finally:
        if proc is not None:
            stop(proc)
        with admin.connect() as conn:
            if not args.keep and not args.db:
                conn.exec_driver_sql(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
            if not args.in_process:
                conn.exec_driver_sql(f"DROP DATABASE IF EXISTS {meta} WITH (FORCE)")
        admin.dispose()


if __name__ == "__main__":
    raise SystemExit(main())
