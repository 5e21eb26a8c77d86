"""A history load in one process, step by step, in CPU seconds (issue #20 target 4): where a loaded year's
time goes without Airflow around it.

Generates ``--decisions`` over ``--days`` (as ``bench/dagruns.py year`` does, scaled), starts the platform
and licensing sandboxes as their own processes (their CPU is not ours), and runs
``pipeline.interval.process_range`` — what ``sgs_history``'s ``load`` task runs — for each kind in turn,
in this process. Reported per kind: wall, this thread's CPU seconds, and per step the CPU seconds
(``time.thread_time``) and the wall seconds; ``receipts`` wall minus CPU is the time spent waiting for the
platform (its sandbox answers a batch 0.5 s after it was sent); ``decided_early`` counts the days that decided before
the day before's receipts were in. CPU seconds do not depend on what else
runs on the machine; wall seconds do — the load is printed.

    python bench/history_range.py [--days 365] [--decisions 20000] [--kinds penalty,license,coercion] [--profile OUT]

``--profile OUT`` writes a cProfile of the loads to OUT (``python -m pstats OUT``).
"""

from __future__ import annotations

import argparse
import collections
import datetime as dt
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "include"))
sys.path.insert(0, str(ROOT / "scripts"))
BIN = Path(sys.executable).parent


def _port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def main() -> int:
    from benchenv import ensure_keyring

    ensure_keyring()  # #19 §3: the warehouse and the pipeline seal personal data
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--days", type=int, default=365)
    ap.add_argument("--decisions", type=int, default=20000)
    ap.add_argument("--kinds", default="penalty,license,coercion")
    ap.add_argument("--daily-start", default="2026-11-01")
    ap.add_argument("--profile", help="write a cProfile of the loads here")
    ap.add_argument("--keep", action="store_true")
    args = ap.parse_args()

    from airflow_api import wait_http
    from creditflow.core import warehouse as wh
    from creditflow.core.platform_client import LicensingClient, PlatformClient, RetryPolicy
    from creditflow.reporting import pipeline as sgs
    from creditflow.reporting.pipeline import interval, stages
    from creditflow_sandbox import generator as g

    daily_start = dt.date.fromisoformat(args.daily_start)
    first, last = daily_start - dt.timedelta(days=args.days), daily_start - dt.timedelta(days=1)
    work = Path(tempfile.mkdtemp(prefix="cf_history_range_"))
    procs: list[subprocess.Popen[bytes]] = []
    try:
        var = work / "var"
        var.mkdir()
        counts = g.generate_to(g.GeneratorConfig(decisions=args.decisions, start=first, days=max(1, args.days - 7)),
                               case_db_url=f"sqlite:///{var}/casedb.sqlite",
                               licensing_db_url=f"sqlite:///{var}/licensing.sqlite", inbox=var / "inbox")
        wh.upgrade(f"sqlite:///{var}/creditflow.sqlite")
        pf, lic = _port(), _port()
        for name, port in (("platform", pf), ("licensing", lic)):
            procs.append(subprocess.Popen([str(BIN / "creditflow"), "sandbox", name, "--host", "127.0.0.1", "--port",
                                           str(port), "--db", f"sqlite:///{var}/{name}.sqlite"],
                                          stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
        wait_http(f"http://127.0.0.1:{pf}/health", 120, poll=0.3)
        wait_http(f"http://127.0.0.1:{lic}/health", 120, poll=0.3)
        policy = RetryPolicy(attempts=6, backoff=0.05, timeout=30)
        engine = wh.engine_from_url(f"sqlite:///{var}/creditflow.sqlite")
        options = interval.IntervalOptions(gx_project_dir=var / "gx")

        cpu: dict[str, float] = collections.Counter()
        wall: dict[str, float] = collections.Counter()
        original = stages.Steps.__call__

        def timed(self: Any, name: str, fn: Any) -> Any:
            c0, t0 = time.thread_time(), time.perf_counter()
            try:
                return original(self, name, fn)
            finally:
                cpu[name] += time.thread_time() - c0
                wall[name] += time.perf_counter() - t0

        stages.Steps.__call__ = timed  # type: ignore[method-assign]
        profiler = None
        if args.profile:
            import cProfile

            profiler = cProfile.Profile()
        out: dict[str, Any] = {"range": [first.isoformat(), last.isoformat()], "generated": counts,
                               "load_before": os.getloadavg(), "kinds": {}}
        for kind in args.kinds.split(","):
            cpu.clear()
            wall.clear()
            sources = sgs.Sources(
                case_db=wh.engine_from_url(f"sqlite:///{var}/casedb.sqlite") if kind != "license" else None,
                licensing=LicensingClient(f"http://127.0.0.1:{lic}", "creditflow", "demo-licensing", policy)
                if kind == "license" else None, inbox=var / "inbox")
            client = PlatformClient(f"http://127.0.0.1:{pf}", "creditflow-demo", "demo-secret", policy)
            c0, t0 = time.thread_time(), time.perf_counter()
            if profiler is not None:
                profiler.enable()
            results = interval.process_range(kind, first, last, engine, sources, client, options)
            if profiler is not None:
                profiler.disable()
            total_cpu, total_wall = time.thread_time() - c0, time.perf_counter() - t0
            out["kinds"][kind] = {
                "days": len(results), "failed": sum(r.state != "success" for r in results),
                "extracted": sum((r.summary or {}).get("extracted", 0) for r in results),
                "uploaded": sum((r.summary or {}).get("uploaded", 0) for r in results),
                "decided_early": sum(r.decided_early for r in results),
                "wall_s": round(total_wall, 1), "cpu_s": round(total_cpu, 1),
                "steps_cpu_s": {k: round(v, 1) for k, v in cpu.items()},
                "steps_wall_s": {k: round(v, 1) for k, v in wall.items()},
                "outside_steps_cpu_s": round(total_cpu - sum(cpu.values()), 1),
                "load_after": os.getloadavg()}
            print(json.dumps({kind: out["kinds"][kind]}, ensure_ascii=False), flush=True)
        if profiler is not None:
            profiler.dump_stats(args.profile)
        print(json.dumps(out, ensure_ascii=False, indent=1))
    finally:
        for p in procs:
            p.terminate()
            p.wait(timeout=20)
        if args.keep:
            print(f"kept {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
