"""Benchmark of the annual inspection plan (run by hand; results go to docs/benchmarks.md by hand).

Generates a case database with the sandbox generator (150,000 decisions → 50,000 enterprises and 200
inspectors — all set active here — with a year of inspections and accidents before the data start), then times, in this
process: reading the inputs, computing the plan (risk, key list, draw, CP-SAT months, team/day packing,
self-checks) and writing the documents (XLSX, PDF, plan.json). Reports the solver's objective, bound
and gap, and peak RSS.

    python bench/plan.py [--decisions 150000] [--case-db sqlite:///…] [--year 2026] [--seed 1]

Give ``--case-db`` to reuse a generated database (generation is not part of the timing).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import platform
import resource
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def main() -> int:
    from benchenv import ensure_keyring

    ensure_keyring()  # #19 §3: the warehouse and the pipeline seal personal data
    ap = argparse.ArgumentParser()
    ap.add_argument("--decisions", type=int, default=150_000)
    ap.add_argument("--case-db", default=None)
    ap.add_argument("--year", type=int, default=2026)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--time-limit", type=float, default=30.0)
    ap.add_argument("--out", default=None)
    args = ap.parse_args()
    work = Path(tempfile.mkdtemp(prefix="bench-plan-"))
    url = args.case_db
    gen_s = None
    if url is None:
        from creditflow_sandbox import generator as g

        url = f"sqlite:///{work / 'case.sqlite'}"
        t = time.perf_counter()
        g.generate_to(g.GeneratorConfig(seed=args.seed, decisions=args.decisions, start=dt.date(args.year, 1, 5),
                                        days=20), case_db_url=url)
        gen_s = time.perf_counter() - t
        import sqlalchemy as sa

        with sa.create_engine(url).begin() as conn:  # the generator retires ~5%: plan with the whole roster
            conn.execute(sa.text("UPDATE inspector SET active = 1"))
        print(f"generated {url} in {gen_s:.1f} s", file=sys.stderr)

    from creditflow.planning import build_plan, load_case_db
    from creditflow.planning.store import save_plan

    t0, c0 = time.perf_counter(), time.process_time()
    # Records up to the end of January: the generated penalties (dated from 5 January) count as credit history.
    inputs = load_case_db(url, args.year, as_of=dt.date(args.year, 2, 1))
    t1 = time.perf_counter()
    plan = build_plan(args.year, inputs, seed=args.seed, time_limit=args.time_limit)
    t2 = time.perf_counter()
    paths = save_plan(plan, Path(args.out) if args.out else work / "plans" / str(args.year))
    t3, c3 = time.perf_counter(), time.process_time()
    s = plan.summary()
    result = {
        "machine": f"{platform.node()} {platform.machine()} python {platform.python_version()}",
        "enterprises": s["enterprises"], "inspectors": s["inspectors"], "teams": len(plan.teams),
        "jobs": len(plan.jobs), "inspections": s["inspections"], "key_enterprises": s["key_enterprises"],
        "mandatory_unscheduled": s["mandatory_unscheduled"], "shortfall_inspector_days": s["shortfall_inspector_days"],
        "solver_status": plan.schedule.status, "objective": s["objective"], "bound": s["bound"], "gap": s["gap"],
        "solver_seconds": round(plan.schedule.wall_seconds, 2),
        "district_pairs": plan.schedule.district_pairs, "district_pairs_bound": plan.schedule.district_pairs_bound,
        "load_seconds": round(t1 - t0, 2), "plan_seconds": round(t2 - t1, 2), "write_seconds": round(t3 - t2, 2),
        "total_seconds": round(t3 - t0, 2), "total_cpu_seconds": round(c3 - c0, 2),
        "generate_seconds": round(gen_s, 1) if gen_s else None,
        "xlsx_mb": round(paths["xlsx"].stat().st_size / 1e6, 2), "pdf_kb": round(paths["pdf"].stat().st_size / 1e3),
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024),
    }
    print(json.dumps(result, ensure_ascii=False, indent=1))
    ok = result["total_seconds"] < 60 and s["gap"] <= 0.01
    print(f"{'OK' if ok else 'MISSED'}: plan + documents in {result['total_seconds']} s (target < 60), "
          f"gap {s['gap']:.4%} (target ≤ 1%)")
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
