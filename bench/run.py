"""Benchmarks (run by hand: ``make bench``; results go to docs/benchmarks.md by hand, with the machine).

1. ``generator``  — stream N decisions into SQLite + inbox + manifest; peak RSS of the process.
2. ``pipeline``   — standardise + validate + deduplicate N records, in chunks: GX (the pipeline's path)
                    side by side with the floor of the whole path (bench/floor_standardise.py +
                    bench/floor.py: the same work in minimal code), same run; keys, hashes and findings
                    compared per record (a difference exits non-zero); ``--data varied`` (default: every name, code
                    and fact distinct) or ``tiled`` (a sample tiled, as before issue 12). Wall and CPU
                    time per stage and the load average (the machine is shared); peak RSS of the process
                    and per stage (``PeakRss``: ``/usr/bin/time`` no longer sees the process's peak).
3. ``ledger``     — the per-run ledger lookups of a daily run against an empty ledger and a large one.

Each benchmark runs in its own subprocess so that peak RSS (ru_maxrss) is its own.

    python bench/run.py [generator|pipeline|ledger|all] [--n N] [--chunk N] [--data varied|tiled]
                        [--ledger-rows N]

A day's validation (target 3 of issue 12): ``python bench/validate_day.py``.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


class PeakRss:
    """Peak RSS per part of a benchmark: the kernel's high-water mark (VmHWM), read and reset at each part's
    end (Linux: writing 5 to /proc/self/clear_refs). :attr:`process` is the whole process's peak (the
    largest of the parts, including everything before the first one); elsewhere only that is known."""

    def __init__(self) -> None:
        self.parts: dict[str, float] = {}
        self.process = 0.0
        self.resettable = os.access("/proc/self/clear_refs", os.W_OK)

    def close(self, part: str) -> None:
        """The peak since the previous close belongs to ``part``."""
        if not self.resettable:
            self.process = peak_rss_mb()
            return
        status = Path("/proc/self/status").read_text()
        mb = int(status.split("VmHWM:")[1].split()[0]) / 1024
        Path("/proc/self/clear_refs").write_text("5")
        self.parts[part] = max(self.parts.get(part, 0.0), mb)
        self.process = max(self.process, mb)


def bench_generator(n: int) -> dict:
    from creditflow_sandbox import generator as g

    d = Path(tempfile.mkdtemp(prefix="bench-gen-"))
    t = time.perf_counter()
    counts = g.generate_to(g.GeneratorConfig(seed=1, decisions=n, start=dt.date(2026, 1, 5), days=250),
                           case_db_url=f"sqlite:///{d}/case.sqlite", licensing_db_url=f"sqlite:///{d}/lic.sqlite",
                           inbox=d / "inbox", manifest=d / "manifest.jsonl")
    secs = time.perf_counter() - t
    return {"bench": "generator", "decisions": n, "records": counts["decisions"], "seconds": round(secs, 1),
            "decisions_per_s": round(n / secs), "peak_rss_mb": round(peak_rss_mb()), "files": counts.get("files")}


def _records(n: int):  # type: ignore[no-untyped-def]
    """n district-style rows: a generated realistic sample, tiled with unique 文号 (keeps the dirt)."""
    import pandas as pd
    from creditflow.reporting.submissions import read_submission
    from creditflow_sandbox import generator as g

    d = Path(tempfile.mkdtemp(prefix="bench-rec-"))
    g.generate_to(g.GeneratorConfig(seed=2, decisions=20_000, start=dt.date(2026, 1, 5), days=60), inbox=d)
    rows = [vals for f in sorted((d / "penalty").iterdir()) for _, vals in read_submission(f).rows]
    base = pd.DataFrame(rows)
    reps = -(-n // len(base))
    big = pd.concat([base] * reps, ignore_index=True).iloc[:n].copy()
    suffix = pd.Series(range(n)).astype(str)
    big["CF_WSH"] = big["CF_WSH"].astype(str).str.replace("号", "", regex=False) + "-" + suffix + "号"
    return big


def _dedup(frame, ledger):  # type: ignore[no-untyped-def]
    """Exact duplicates within the batch + comparison with the ledger by natural key and content hash."""
    dup = frame["natural_key"].notna() & frame.duplicated("natural_key", keep="first")
    merged = frame.loc[~dup, ["natural_key", "content_hash"]].merge(ledger, on="natural_key", how="left")
    unchanged = (merged["accepted_hash"] == merged["content_hash"]).sum()
    return int(dup.sum()), int(unchanged)


def _release_freed_memory() -> None:
    """Give back to the OS what one side of the benchmark freed, before the other side runs: pyarrow's
    pool (mimalloc) and glibc's heap keep freed pages for reuse, so without this each side's peak would
    sit on the other's leftovers. Not timed; what each side allocates still counts in its own peak."""
    import ctypes
    import gc

    import pyarrow as pa

    gc.collect()
    pa.default_memory_pool().release_unused()
    try:
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):  # not glibc
        pass


def _clock() -> tuple[float, float]:
    return time.perf_counter(), time.process_time()


def _standardise(part):  # type: ignore[no-untyped-def]
    from creditflow.reporting import standardise as st

    return st.standardise(st.map_source_rows(part, "district_file", "penalty"), "penalty")


def _key_differences(ours, floor) -> list[str]:  # type: ignore[no-untyped-def]
    """Records whose natural key or content hash differ between the project and the floor, masked."""
    import pyarrow as pa
    import pyarrow.compute as pc
    from creditflow.common import mask_text

    out: list[str] = []
    for col in ("natural_key", "content_hash"):
        x = pa.array(ours[col].to_numpy(dtype=object), pa.string(), from_pandas=True)
        y = pa.array(floor[col].astype(object).where(floor[col].notna(), None).to_numpy(dtype=object),
                     pa.string(), from_pandas=True)
        same = pc.or_(pc.fill_null(pc.equal(x, y), False), pc.and_(pc.is_null(x), pc.is_null(y)))
        for i in pc.indices_nonzero(pc.invert(same)).to_pylist():
            out.append(f"{col} row {ours['record_id'].iloc[i]}: project {mask_text(x[i].as_py())} "
                       f"≠ floor {mask_text(y[i].as_py())}")
    return out


def bench_pipeline(n: int, chunk: int, data: str = "varied") -> dict:
    """standardise → validate (GX path) → deduplicate, chunk by chunk; the floor of the whole path
    (bench/floor_standardise.py: mapping, normalisation, keys, content hash; bench/floor.py: the same rules
    and the dedup — minimal code independent of the project's modules) on the same raw chunks in the same
    run. Compared per record: natural key and content hash; then the floor's findings (on the floor's own
    standardised frame) with GX's. ``data``: ``varied`` (every name, code, 文号 and fact distinct; generated
    per chunk, outside the timings) or ``tiled`` (a 20,000-decision sample tiled, the benchmark of before
    issue 12)."""
    import pandas as pd
    from creditflow.reporting import validation as v
    from creditflow_sandbox.generator.varied import varied_district_rows

    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from floor import floor_dedup, floor_findings
    from floor_standardise import floor_standardise

    tiled = _records(n) if data == "tiled" else None
    as_of = dt.date(2026, 12, 31)
    ledger = pd.DataFrame({"natural_key": [], "accepted_hash": []}, dtype=object)
    stages = ("standardise", "validate_gx", "dedup", "floor_standardise", "floor_validate", "floor_dedup")
    wall = dict.fromkeys(stages, 0.0)
    cpu = dict.fromkeys(stages, 0.0)
    findings_gx = findings_floor = dups = 0
    same = True
    differences: list[str] = []
    v.validate_gx(v.prepare(pd.DataFrame([{}]), "penalty"), "penalty", as_of)  # import, context, suite once
    floor_standardise(varied_district_rows(10, seed=1), "district_file", "penalty")  # its data files once

    peak = PeakRss()
    peak.close("setup")  # imports, GX's context and suite, the floor's data files

    def timed(stage: str, fn, *args):  # type: ignore[no-untyped-def]
        peak.close("input and comparison")  # generating the chunk, the comparison of the previous one
        w, c = _clock()
        out = fn(*args)
        wall[stage] += time.perf_counter() - w
        cpu[stage] += time.process_time() - c
        peak.close(stage)
        return out

    for start in range(0, n, chunk):
        size = min(chunk, n - start)
        part = (tiled.iloc[start:start + size] if tiled is not None
                else varied_district_rows(size, seed=12, offset=start))
        frame = timed("standardise", _standardise, part)
        a, _ = timed("validate_gx", v.validate_gx, frame, "penalty", as_of)
        d, _ = timed("dedup", _dedup, frame, ledger)
        # What the comparison needs of the project's side: its keys, hashes and findings. The frame goes
        # before the floor runs, so the process's peak is the larger of the two sides, not their sum.
        frame = frame[["record_id", "natural_key", "content_hash"]].copy()
        gx_set = {(int(r), f, rid) for r, f, rid in zip(a["_row"], a["field"], a["rule_id"], strict=True)}
        found = len(a)
        del a
        _release_freed_memory()
        ff = timed("floor_standardise", floor_standardise, part, "district_file", "penalty")
        b = timed("floor_validate", floor_findings, ff, "penalty", as_of)
        fd = timed("floor_dedup", floor_dedup, ff)
        keys = _key_differences(frame, ff)
        rows = frame["record_id"].to_numpy()
        finding_diffs = [f"finding {rid} {f} row {rows[r]}: {'project only' if (r, f, rid) in gx_set else 'floor only'}"
                         for r, f, rid in sorted(gx_set ^ b)]
        differences += keys + finding_diffs + ([f"duplicates: project {d} ≠ floor {fd}"] if fd != d else [])
        same &= not keys and gx_set == b and len(gx_set) == found and fd == d
        findings_gx += found
        findings_floor += len(b)
        dups += d
        del ff, part
        _release_freed_memory()
    peak.close("input and comparison")
    ours = ("standardise", "validate_gx", "dedup")
    floors = ("floor_standardise", "floor_validate", "floor_dedup")
    total_wall, total_cpu = sum(wall[k] for k in ours), sum(cpu[k] for k in ours)
    floor_wall, floor_cpu = sum(wall[k] for k in floors), sum(cpu[k] for k in floors)
    return {"bench": "pipeline", "data": data, "records": n, "chunk": chunk,
            **{f"{k}_s": round(x, 1) for k, x in wall.items()}, **{f"{k}_cpu_s": round(x, 1) for k, x in cpu.items()},
            "total_gx_s": round(total_wall, 1), "total_gx_cpu_s": round(total_cpu, 1),
            "total_floor_s": round(floor_wall, 1), "total_floor_cpu_s": round(floor_cpu, 1),
            "records_per_s_gx": round(n / total_wall),
            "ratio_standardise_cpu": round(cpu["standardise"] / cpu["floor_standardise"], 2),
            "ratio_validate_dedup_gx_over_floor_cpu": round(
                (cpu["validate_gx"] + cpu["dedup"]) / (cpu["floor_validate"] + cpu["floor_dedup"]), 2),
            "ratio_whole_path_cpu": round(total_cpu / floor_cpu, 2),
            "ratio_whole_path_wall": round(total_wall / floor_wall, 2),
            "findings_gx": findings_gx, "findings_floor": findings_floor, "same_keys_hashes_findings": same,
            "differences": len(differences), "first_differences": differences[:10],
            "duplicates": dups, "peak_rss_mb": round(peak.process),
            "peak_rss_by_part_mb": {k: round(x) for k, x in peak.parts.items()},
            "loadavg": [round(x, 2) for x in os.getloadavg()]}


def _fill_ledger(engine, size: int) -> None:  # type: ignore[no-untyped-def]
    """``size`` accepted ledger rows: five years of history over 400,000 parties."""
    import hashlib

    from creditflow.core import warehouse as wh

    with engine.begin() as conn:
        batch = []
        for i in range(size):
            day = dt.date(2021, 1, 1) + dt.timedelta(days=i * 1825 // max(size, 1))
            party = f"91440400MA{i % 400_000:08d}"
            batch.append({"kind": "penalty", "natural_key": f"珠应急罚〔{day.year}〕{i:07d}号|{party}",
                          "owner_record_id": f"case_db:H{i}", "party_key": party,
                          "doc_key": f"珠应急罚〔{day.year}〕{i:07d}号", "decision_date": day.isoformat(),
                          "body_hash": "b", "accepted_hash": hashlib.md5(str(i).encode()).hexdigest(),
                          "platform_status": "published", "state": "accepted", "updated_at": "x"})
            if len(batch) == 50_000:
                conn.execute(wh.ledger.insert(), batch)
                batch = []
        if batch:
            conn.execute(wh.ledger.insert(), batch)


def bench_ledger(ledger_rows: int, daily: int) -> dict:
    """A whole daily run's work before upload (extract → standardise → validate → decide) for ``daily``
    decisions, against an empty ledger and against ``ledger_rows`` accepted rows."""
    from creditflow.common import TZ
    from creditflow.core import warehouse as wh
    from creditflow.reporting import pipeline as sgs
    from creditflow_sandbox import generator as g

    day = dt.date(2026, 11, 2)
    d = Path(tempfile.mkdtemp(prefix="bench-ledger-"))
    g.generate_to(g.GeneratorConfig(seed=9, decisions=daily, start=day, days=1, person_share=0.0),
                  case_db_url=f"sqlite:///{d}/case.sqlite")
    case = wh.engine_from_url(f"sqlite:///{d}/case.sqlite")
    start = dt.datetime(2026, 11, 2, tzinfo=TZ)
    run = sgs.Run("bench_penalty", "penalty", start, start + dt.timedelta(days=1))
    out: dict[int, dict[str, float]] = {}
    for size in (0, ledger_rows):
        engine = wh.engine_from_url(f"sqlite:///{d}/wh_{size}.sqlite")
        wh.create_schema(engine)
        _fill_ledger(engine, size)
        sgs.extract(run, engine, sgs.Sources(case_db=case))
        sgs.standardise(run, engine)
        sgs.validate(run, engine)
        times = []
        for _ in range(3):  # decide is a transaction over the run: repeat it
            t = time.perf_counter()
            counts = sgs.decide(run, engine)
            times.append(time.perf_counter() - t)
            with engine.begin() as conn:  # undo the pending rows so every repeat does the same work
                conn.execute(wh.ledger.delete().where(wh.ledger.c.state == "pending"))
        t = time.perf_counter()
        sgs.extract(run, engine, sgs.Sources(case_db=case))
        sgs.standardise(run, engine)
        sgs.validate(run, engine)
        sgs.decide(run, engine)
        out[size] = {"decide": min(times), "run": time.perf_counter() - t, "ops": counts["ops"]}
        engine.dispose()
    return {"bench": "ledger", "daily_records": daily, "ledger_rows": ledger_rows,
            "decide_s_empty": round(out[0]["decide"], 3), "decide_s_full": round(out[ledger_rows]["decide"], 3),
            "decide_ratio": round(out[ledger_rows]["decide"] / out[0]["decide"], 2),
            "run_s_empty": round(out[0]["run"], 2), "run_s_full": round(out[ledger_rows]["run"], 2),
            "run_ratio": round(out[ledger_rows]["run"] / out[0]["run"], 2), "ops": out[0]["ops"]}


def main() -> None:
    from benchenv import ensure_keyring

    ensure_keyring()  # #19 §3: the warehouse and the pipeline seal personal data
    p = argparse.ArgumentParser()
    p.add_argument("which", nargs="?", default="all", choices=["generator", "pipeline", "ledger", "all", "_child"])
    p.add_argument("--n", type=int, default=None)
    p.add_argument("--chunk", type=int, default=100_000)
    p.add_argument("--data", choices=["varied", "tiled"], default="varied")
    p.add_argument("--ledger-rows", type=int, default=5_000_000)
    p.add_argument("--daily", type=int, default=2_000)
    p.add_argument("--child", default=None)
    args = p.parse_args()
    if args.which == "_child":
        if args.child == "generator":
            result = bench_generator(args.n or 1_000_000)
        elif args.child == "pipeline":
            result = bench_pipeline(args.n or 1_000_000, args.chunk, args.data)
        else:
            result = bench_ledger(args.ledger_rows, args.daily)
        print("RESULT " + json.dumps(result, ensure_ascii=False))
        return
    print(f"# {platform.node()} · {os.cpu_count()} cores · Python {platform.python_version()} · "
          f"{dt.datetime.now():%F %T}")
    for name in (["generator", "pipeline", "ledger"] if args.which == "all" else [args.which]):
        cmd = [sys.executable, __file__, "_child", "--child", name, "--chunk", str(args.chunk), "--data", args.data,
               "--ledger-rows", str(args.ledger_rows), "--daily", str(args.daily)]
        if args.n:
            cmd += ["--n", str(args.n)]
        out = subprocess.run(cmd, capture_output=True, text=True, check=True)
        line = [x for x in out.stdout.splitlines() if x.startswith("RESULT ")][-1]
        result = json.loads(line[7:])
        print(json.dumps(result, ensure_ascii=False))
        if result.get("same_keys_hashes_findings") is False:  # the floor disagrees: the benchmark fails
            sys.exit("floor and project differ: " + "; ".join(result["first_differences"]))


if __name__ == "__main__":
    main()
