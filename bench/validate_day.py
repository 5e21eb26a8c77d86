"""A day's validation (issue 12, target 3): ``pipeline.validate(run, engine, gx_project_dir=...)`` end to
end — GX context, suite, run, findings written, Data Docs — for one day of ``--n`` generated decisions.

Reports, in one fresh process: the import of GX + the stage modules, the first call (context and suite
built), and the best of ``--repeat`` further calls (what every later run in a long-lived worker pays, and
what a run of a backfill pays after the first), wall and CPU time each, plus the load average.

    python bench/validate_day.py [--n 100] [--repeat 5]
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import tempfile
import time
from pathlib import Path


def _clock() -> tuple[float, float]:
    return time.perf_counter(), time.process_time()


def _since(start: tuple[float, float]) -> dict[str, float]:
    wall, cpu = _clock()
    return {"wall_s": round(wall - start[0], 3), "cpu_s": round(cpu - start[1], 3)}


def main() -> None:
    from benchenv import ensure_keyring

    ensure_keyring()  # #19 §3: the warehouse and the pipeline seal personal data
    p = argparse.ArgumentParser()
    p.add_argument("--n", type=int, default=100)
    p.add_argument("--repeat", type=int, default=5)
    args = p.parse_args()
    t0 = _clock()
    import great_expectations  # noqa: F401
    from creditflow.core import warehouse as wh
    from creditflow.reporting import pipeline as sgs
    from creditflow_sandbox import generator as g
    imported = _since(t0)

    from creditflow.common import TZ

    day = dt.date(2026, 11, 2)
    d = Path(tempfile.mkdtemp(prefix="bench-vday-"))
    g.generate_to(g.GeneratorConfig(seed=12, decisions=args.n, start=day, days=1),
                  case_db_url=f"sqlite:///{d}/case.sqlite")
    case = wh.engine_from_url(f"sqlite:///{d}/case.sqlite")
    engine = wh.engine_from_url(f"sqlite:///{d}/wh.sqlite")
    wh.create_schema(engine)
    start = dt.datetime(2026, 11, 2, tzinfo=TZ)
    run = sgs.Run("bench_penalty", "penalty", start, start + dt.timedelta(days=1))
    sgs.extract(run, engine, sgs.Sources(case_db=case))
    sgs.standardise(run, engine)
    t = _clock()
    counts = sgs.validate(run, engine, gx_project_dir=d / "gx")
    first = _since(t)
    later = []
    for _ in range(args.repeat):
        t = _clock()
        sgs.validate(run, engine, gx_project_dir=d / "gx")
        later.append(_since(t))
    best = min(later, key=lambda x: x["wall_s"]) if later else None
    docs = sorted(str(x.relative_to(d)) for x in (d / "gx").rglob("*.json"))  # the results 数据质量报告 reads
    print(json.dumps({"bench": "validate_day", "records": counts["records"], "findings": counts["findings"],
                      "import": imported, "first_call": first, "best_later_call": best,
                      "later_calls_wall_s": [x["wall_s"] for x in later], "results": docs,
                      "loadavg": [round(x, 2) for x in os.getloadavg()]}, ensure_ascii=False))


if __name__ == "__main__":
    main()
