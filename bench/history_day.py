"""One late day of a history load, step by step (issue 12, target 1): where a loaded day's time goes.

Takes the folder a ``bench/dagruns.py year --keep`` run left (its warehouse holds the year, with the review
backlog the year built up), copies the warehouse and the inbox into a scratch folder, brings the copy to
the current schema (``creditflow db upgrade``), and re-runs ``--kind`` for ``--day`` through
``pipeline.interval.process_interval`` against a fresh platform sandbox — once to warm up (imports, GX
context), then ``--repeat`` times, reporting the best wall and CPU time and each step's seconds. It is a
re-run of a loaded day: its records are already in the ledger, so upload and receipts cost ≈ 0 here —
what it shows is the carried review backlog's cost in extract, standardise, validate and decide.

    python bench/history_day.py /tmp/cf_bench_year_XXXX [--kind penalty] [--day 2026-10-30] [--repeat 3] [--docs]

``--docs`` also keeps the day's GX result for 数据质量报告 in a scratch gx area (as a
history load does). Compare two versions of the code on the same kept folder: the copy is made per run.
"""

from __future__ import annotations

import argparse
import collections
import datetime as dt
import json
import os
import shutil
import socket
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "include"))


def _serve(app: object) -> str:
    import uvicorn

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="critical"))  # type: ignore[arg-type]
    threading.Thread(target=server.run, daemon=True).start()
    while not server.started:
        time.sleep(0.05)
    return f"http://127.0.0.1:{port}"


def main() -> int:
    from benchenv import ensure_keyring

    ensure_keyring()  # #19 §3: the warehouse and the pipeline seal personal data
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("work", type=Path, help="the folder of a `bench/dagruns.py year --keep` run")
    ap.add_argument("--kind", default="penalty", choices=["penalty", "license", "coercion"])
    ap.add_argument("--day", default=None, help="local day to re-run (default: the range's last day)")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--docs", action="store_true", help="also keep the day's GX result (数据质量报告)")
    args = ap.parse_args()

    from creditflow.core import migrations
    from creditflow.core import warehouse as wh
    from creditflow.core.platform_client import PlatformClient, RetryPolicy
    from creditflow.reporting import pipeline as sgs
    from creditflow.reporting.pipeline import interval
    from creditflow_sandbox import licensing, platform

    var = args.work / "var"
    scratch = Path(tempfile.mkdtemp(prefix="cf_history_day_"))
    try:
        shutil.copy(var / "creditflow.sqlite", scratch / "warehouse.sqlite")
        shutil.copytree(var / "inbox", scratch / "inbox")
        engine = wh.engine_from_url(f"sqlite:///{scratch}/warehouse.sqlite")
        migrations.upgrade(engine)
        with engine.connect() as conn:
            last = conn.execute(wh.run_summary.select().with_only_columns(
                wh.run_summary.c.interval_start).where(wh.run_summary.c.kind == args.kind)
                .order_by(wh.run_summary.c.interval_start.desc()).limit(1)).scalar_one()
        day = dt.date.fromisoformat(args.day or str(last)[:10])
        pf = _serve(platform.create_app(db_url=f"sqlite:///{scratch}/platform.sqlite"))
        client = PlatformClient(pf, "creditflow-demo", "demo-secret", RetryPolicy(attempts=6, backoff=0.01, timeout=5))
        licensing_client = None
        if args.kind == "license":
            from creditflow.core.platform_client import LicensingClient

            shutil.copy(var / "licensing.sqlite", scratch / "licensing.sqlite")  # the sandbox writes its tokens
            licensing_client = LicensingClient(_serve(licensing.create_app(db_url=f"sqlite:///{scratch}/licensing.sqlite")),
                                               "creditflow", "demo-licensing",
                                               RetryPolicy(attempts=6, backoff=0.01, timeout=5))
        sources = sgs.Sources(case_db=wh.engine_from_url(f"sqlite:///{var}/casedb.sqlite"),
                              licensing=licensing_client, inbox=scratch / "inbox")
        options = interval.IntervalOptions(gx_project_dir=scratch / "gx" if args.docs else None)
        run = interval.interval_run(args.kind, day)
        interval.process_interval(run, engine, sources, client, options)  # warm: imports, GX context
        best: dict[str, object] | None = None
        for _ in range(args.repeat):
            steps: dict[str, float] = collections.Counter()
            t0, c0 = time.perf_counter(), time.process_time()
            out = interval.process_interval(run, engine, sources, client, options,
                                            on_step=lambda name, secs, _c, into=steps: into.update({name: secs}))
            wall, cpu = time.perf_counter() - t0, time.process_time() - c0
            if best is None or wall < float(best["wall_s"]):  # type: ignore[arg-type]
                best = {"wall_s": round(wall, 3), "cpu_s": round(cpu, 3), "steps": dict(steps),
                        "records": out["extracted"], "awaiting_review": out["awaiting_review"]}
        print(json.dumps({"kind": args.kind, "day": day.isoformat(), "docs": args.docs, "best_of": args.repeat,
                          **(best or {}), "load": os.getloadavg()}, ensure_ascii=False, indent=1))
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
