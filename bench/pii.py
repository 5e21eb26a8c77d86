"""What personal data at rest costs (#19 §3), measured by hand; results in docs/benchmarks.md §13.

1. Per value: ``seal`` (SM4-GCM), ``unseal``, ``blind`` (HMAC-SM3) of a resident ID number, CPU µs each.
2. The 双公示 stages that seal and open, on one day of ``--n`` varied district-style records (5 % natural
   persons, every record with a legal representative): staged rows written as extract writes them (personal
   source fields sealed), then ``standardise`` (opens the raw rows, blinds natural persons' keys, seals the
   payloads) and ``load_standardised`` (what validate and decide read: opens the payloads) — CPU seconds
   with sealing on and with sealing off (``sm4._PASSTHROUGH_FOR_TESTS``: the release before), alternating
   ``--repeat`` times on fresh SQLite warehouses, best of each.

    python bench/pii.py [--n 100000] [--repeat 2]
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import tempfile
import time
from pathlib import Path


def per_value(n: int = 20_000) -> dict[str, float]:
    from creditflow.core import pii

    ring = pii.keyring()
    values = [f"4404021990{i:08d}" for i in range(n)]
    out: dict[str, float] = {}
    c = time.process_time()
    sealed = [pii.seal(v, ring) for v in values]
    out["seal_us"] = (time.process_time() - c) / n * 1e6
    c = time.process_time()
    for s in sealed:
        pii.unseal(s, ring)
    out["unseal_us"] = (time.process_time() - c) / n * 1e6
    c = time.process_time()
    for v in values:
        pii.blind(v, "id", ring)
    out["blind_us"] = (time.process_time() - c) / n * 1e6
    return {k: round(v, 1) for k, v in out.items()}


def stages(n: int, sealing: bool) -> dict[str, float]:
    import sqlalchemy as sa
    from creditflow.common import TZ
    from creditflow.core import warehouse as wh
    from creditflow.core.pii import sm4
    from creditflow.reporting import pipeline as sgs
    from creditflow.reporting.pipeline.common import seal_raw
    from creditflow_sandbox.generator.varied import varied_district_rows

    sm4._PASSTHROUGH_FOR_TESTS = not sealing
    try:
        d = Path(tempfile.mkdtemp(prefix="bench-pii-"))
        engine = wh.engine_from_url(f"sqlite:///{d}/wh.sqlite")
        wh.upgrade(engine)
        start = dt.datetime(2026, 11, 2, tzinfo=TZ)
        run = sgs.Run("bench_penalty", "penalty", start, start + dt.timedelta(days=1))
        rows = varied_district_rows(n, seed=12).to_dict("records")
        out: dict[str, float] = {}
        c = time.process_time()
        staged = [{"run_key": run.run_key, "record_id": f"district_file:r{i}", "kind": "penalty",
                   "source_system": "district_file", "source_key": f"r{i}", "lineage": f"f.xlsx#row{i}",
                   "interval_start": start.isoformat(), "extracted_at": "2026-11-03T06:00:00+00:00",
                   "raw_payload": json.dumps(seal_raw("district_file", "penalty",
                                                      {k: v for k, v in r.items() if isinstance(v, str)}),
                                             ensure_ascii=False, sort_keys=True)} for i, r in enumerate(rows)]
        out["stage_rows_cpu_s"] = time.process_time() - c
        with engine.begin() as conn:
            wh.replace_run_rows(conn, wh.staging, run.run_key, staged, kind="penalty")
        c = time.process_time()
        sgs.standardise(run, engine)
        out["standardise_cpu_s"] = time.process_time() - c
        c = time.process_time()
        frame = sgs.load_standardised(run, engine)
        out["load_standardised_cpu_s"] = time.process_time() - c
        with engine.connect() as conn:
            sealed = conn.execute(sa.select(sa.func.count()).select_from(wh.standardised).where(
                wh.standardised.c.payload.like("%sm4g:%"))).scalar()
        out["records"], out["payloads_with_sealed_values"] = len(frame), int(sealed or 0)
        engine.dispose()
        return {k: round(v, 2) if isinstance(v, float) else v for k, v in out.items()}
    finally:
        sm4._PASSTHROUGH_FOR_TESTS = False


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--n", type=int, default=100_000)
    p.add_argument("--repeat", type=int, default=2)
    args = p.parse_args()
    if not os.environ.get("AIRFLOW_CONN_CREDITFLOW_PII"):
        from creditflow.core.pii import keys

        os.environ["AIRFLOW_CONN_CREDITFLOW_PII"] = keys.connection_json(keys.generate_keyring())
    result: dict[str, object] = {"per_value": per_value(), "load_before": os.getloadavg()}
    best: dict[str, dict[str, float]] = {}
    for _ in range(args.repeat):
        for mode in ("off", "on"):
            got = stages(args.n, sealing=mode == "on")
            prev = best.get(mode)
            best[mode] = got if prev is None else {k: min(v, prev[k]) if k.endswith("_s") else v
                                                   for k, v in got.items()}
    result.update(best, load_after=os.getloadavg(), n=args.n)
    print(json.dumps(result, ensure_ascii=False, indent=1))


if __name__ == "__main__":
    main()
