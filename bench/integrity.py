"""Benchmark of the 诚信审核 endpoint (by hand, not a test): single checks at a fixed rate against the real
Airflow API server with the ``creditflow_credit`` plugin, its warehouse in PostgreSQL with 1M parties and
5M penalties. Target: p99 ≤ 50 ms at 200 requests/s on loopback.

    python bench/integrity.py [--parties 1000000] [--penalties-per-party 5] [--rate 50,200] [--seconds 30]
                              [--pg postgresql://postgres@127.0.0.1:5432/postgres] [--keep]

1. creates its own database ``cf_bench_integrity_<pid>`` (dropped at the end unless ``--keep``), brings it to
   the latest schema, loads the parties' codes (valid USCCs) with COPY and expands them in SQL into
   penalties (all states, dates over 4 years), 1% listed cases and some repairs; ANALYZE;
2. starts ``airflow api-server`` (its own AIRFLOW_HOME in a temp folder, Airflow's metadata in a second
   database ``cf_bench_airflow_<pid>`` as in production — Airflow checks every token against it — the
   project's plugins, ``creditflow_db`` pointing at the benchmark database) and takes a JWT from
   ``POST /auth/token``;
3. sends ``GET /credit/api/integrity?code=…`` open-loop at ``--rate`` per second (each request starts on
   schedule whatever earlier ones do, so queueing counts) for ``--seconds``, codes drawn at random (listed,
   penalised and clean parties alike), after a warm-up; every request is a real check, audit row included;
4. prints latency percentiles (ms), achieved rate, errors, as JSON — record them in docs/benchmarks.md.
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

ROOT = Path(__file__).resolve().parents[1]
#: BENCH_CONTROL_PATH=/api/v2/version (say) drives that path instead: the same server's floor, for comparison.
CONTROL_PATH = os.environ.get("BENCH_CONTROL_PATH", "")
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


def start_api_server(db_url: str, port: int, metadata_url: str | None = None) -> tuple[subprocess.Popen, str]:
    from airflow_env import airflow_env

    home = Path(tempfile.mkdtemp(prefix="bench-airflow-"))
    env = {**os.environ, **airflow_env(home, port=port)}
    env["AIRFLOW_CONN_CREDITFLOW_DB"] = json.dumps({"conn_type": "generic", "extra": {"sqlalchemy_url": db_url}})
    env["AIRFLOW__API__WORKERS"] = os.environ.get("BENCH_API_WORKERS", "2")
    env["AIRFLOW__LOGGING__LOGGING_LEVEL"] = "WARNING"
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


async def drive(port: int, token: str, codes: list[str], rate: float, seconds: float, connections: int = 64) -> dict:
    from urllib.parse import quote

    latencies: list[float] = []
    errors: dict[str, int] = {}
    rng = random.Random(7)
    idle: asyncio.Queue[_Conn] = asyncio.Queue()
    for _ in range(connections):
        idle.put_nowait(_Conn(*await asyncio.open_connection("127.0.0.1", port)))

    def request(code: str) -> bytes:
        path = CONTROL_PATH or f"/credit/api/integrity?code={quote(code)}"
        return (f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nAuthorization: Bearer {token}\r\n"
                "Accept: application/json\r\n\r\n").encode()

    async def one(code: str, record: bool) -> None:
        t = time.perf_counter()
        conn = await idle.get()
        key = None
        try:
            status, body = await asyncio.wait_for(conn.get(request(code)), timeout=30)
            if status != 200 or (not CONTROL_PATH and b'"valid":true' not in body.replace(b" ", b"")):
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


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--parties", type=int, default=1_000_000)
    parser.add_argument("--penalties-per-party", type=int, default=5)
    parser.add_argument("--rate", default="200", help="requests per second; several (50,200) run one after another")
    parser.add_argument("--seconds", type=float, default=30)
    parser.add_argument("--pg", default="postgresql://postgres@127.0.0.1:5432/postgres")
    parser.add_argument("--port", type=int, default=28391)
    parser.add_argument("--keep", action="store_true", help="keep the benchmark database")
    parser.add_argument("--sqlite-metadata", action="store_true",
                        help="Airflow's metadata in SQLite (the demo's setup) instead of a PostgreSQL database")
    args = parser.parse_args()
    import sqlalchemy as sa

    name = f"cf_bench_integrity_{os.getpid()}"
    meta = f"cf_bench_airflow_{os.getpid()}"
    admin = sa.create_engine(args.pg, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.exec_driver_sql(f"CREATE DATABASE {name}")
        conn.exec_driver_sql(f"CREATE DATABASE {meta}")
    base = sa.engine.make_url(args.pg).set(drivername="postgresql+psycopg2")
    url = base.set(database=name).render_as_string(hide_password=False)
    metadata_url = base.set(database=meta).render_as_string(hide_password=False) if not args.sqlite_metadata else None
    proc = None
    try:
        codes = load(url, args.parties, args.penalties_per_party)
        proc, token = start_api_server(url, args.port, metadata_url)
        met = True
        for rate in (float(r) for r in str(args.rate).split(",")):
            result = asyncio.run(drive(args.port, token, codes, rate, args.seconds))
            result.update(bench="integrity", parties=args.parties, penalties=args.parties * args.penalties_per_party,
                          rate=rate, seconds=args.seconds, api_workers=os.environ.get("BENCH_API_WORKERS", "2"),
                          path=CONTROL_PATH or "/credit/api/integrity", target="p99 <= 50 ms",
                          met=result["p99_ms"] <= 50 and not result["errors"])
            print(json.dumps(result, ensure_ascii=False), flush=True)
            met = met and result["met"]
        return 0 if met else 1
    finally:
        if proc is not None:
            stop(proc)
        if not args.keep:
            with admin.connect() as conn:
                conn.exec_driver_sql(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
        with admin.connect() as conn:
            conn.exec_driver_sql(f"DROP DATABASE IF EXISTS {meta} WITH (FORCE)")
        admin.dispose()


if __name__ == "__main__":
    raise SystemExit(main())
