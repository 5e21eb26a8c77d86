"""Benchmark of the feedback reports: a warehouse holding a year of N records (default 1,000,000 ledger
rows), then the monthly report (figures, XLSX, PDF) over its last month, timed step by step.

The warehouse is filled directly (what a year of daily runs leaves behind: one run summary per kind and
day, per record its staging, standardised and outcome rows, its ledger row and pending/sent/accepted
history; ~3% quarantined with findings, ~1% waiting for review, ~4% late, ~3% corrected), not through
the pipeline, which would take hours. Run by hand; results go to docs/benchmarks.md.

    python bench/reports.py [--n 1000000] [--db sqlite:///path.sqlite] [--out DIR] [--compare DIR] [--repeat N]
                            [--time-read]

Every report computes its 13 periods from one read of its window (no stored figures since revision 0016):
run 1 of ``--repeat N`` is the first report of the process (cold: nothing imported or memoised yet, as in
a fresh Airflow task), the later runs the same report again in the same process (warm). Each run's
timings are under ``runs``.

``--compare DIR`` (the ``--out`` of an earlier run on the same warehouse) checks that summary.json and the
PDF are byte-identical (exit 1 if not): a speed-up must not change a figure.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import random
import resource
import sqlite3
import tempfile
import time
from pathlib import Path
from typing import Any

YEAR_START = dt.date(2025, 11, 1)
DAYS = 365
KINDS = (("penalty", 0.6), ("license", 0.3), ("coercion", 0.1))
DEPARTMENTS = ("危险化学品安全监督管理科", "工贸行业安全监督管理科", "执法监督科", "综合协调科")
PREFIX = {"penalty": "CF", "license": "XK", "coercion": "QZ"}


def _ts(day: dt.date, hour: int) -> str:
    return dt.datetime(day.year, day.month, day.day, hour, tzinfo=dt.UTC).isoformat(timespec="seconds")


def fill(path: Path, n: int, seed: int = 1) -> dict[str, int]:
    from creditflow.core import warehouse as wh

    wh.upgrade(f"sqlite:///{path}")
    rng = random.Random(seed)
    conn = sqlite3.connect(path)
    conn.execute("PRAGMA journal_mode=OFF")
    conn.execute("PRAGMA synchronous=OFF")
    per_day = n // DAYS
    counts = {"records": 0, "history": 0}
    for i in range(DAYS):
        day = YEAR_START + dt.timedelta(days=i)
        nxt = day + dt.timedelta(days=1)
        start = f"{day.isoformat()}T00:00:00+08:00"
        staging, std, out, ledger, hist, summary, findings = [], [], [], [], [], [], []
        for kind, share in KINDS:
            p = PREFIX[kind]
            run_key = f"sgs_{kind}|{day.isoformat()}"
            m = int(per_day * share)
            for j in range(m):
                rid = f"case_db:{kind[0]}{i:03d}{j:05d}"
                nk = f"珠应急〔2026〕{i:03d}{j:05d}号|91440402MA{j:07d}X"
                roll = rng.random()
                outcome = "quarantined" if roll < 0.03 else "awaiting_review" if roll < 0.04 else "uploaded"
                due = (day + dt.timedelta(days=9)).isoformat()
                payload = json.dumps({f"{p}_XDR_MC": f"珠海某公司{j}", f"{p}_XDR_LB": "法人及非法人组织",
                                      f"{p}_XDR_SHXYM": f"91440402MA{j:07d}X", f"{p}_FRDB": "张某",
                                      f"{p}_WSH": nk.split("|")[0], f"{p}_JDRQ": day.isoformat(),
                                      f"{p}_NR": "罚款人民币一万元" * 3, f"{p}_SY": "经查，该单位未按照规定" * 4,
                                      f"{p}_YJ": "《中华人民共和国安全生产法》第九十七条",
                                      f"{p}_CFJG": "珠海市应急管理局"},
                                     ensure_ascii=False)
                staging.append((run_key, rid, kind, "case_db", rid[8:], f"case_no={j}", start, _ts(nxt, 22),
                                json.dumps({"department": DEPARTMENTS[j % 4], "party_uscc": f"91440402MA{j:07d}X"},
                                           ensure_ascii=False)))
                std.append((run_key, rid, kind, "case_db", nk, nk.split("|")[0], nk.split("|")[1], day.isoformat(),
                            due, 0, f"{j:064d}", f"{j:064d}", payload))
                out.append((run_key, rid, kind, outcome, "create" if outcome == "uploaded" else None, nk, None,
                            "natural_person" if outcome == "awaiting_review" else "clean",
                            "REQUIRED" if outcome == "quarantined" else None, due, roll > 0.96))
                if outcome == "quarantined":
                    findings.append((run_key, rid, f"{p}_SY", "REQUIRED", kind, "error", "处罚事由为必填项", ""))
                    continue
                if outcome == "awaiting_review":
                    continue
                ledger.append((kind, nk, rid, nk.split("|")[1], nk.split("|")[0], day.isoformat(), f"{j:064d}",
                               f"{j:064d}", "published", 1, "accepted", "create", run_key, _ts(nxt, 23), _ts(nxt, 23)))
                for state, h in (("pending", 22), ("sent", 22), ("accepted", 23)):
                    hist.append((kind, nk, rid, "create", state, f"{j:064d}", run_key, _ts(nxt, h)))
                if roll > 0.97:
                    hist.append((kind, nk, rid, "correct", "accepted", f"{j + 1:064d}", run_key, _ts(nxt, 23)))
            summary.append((run_key, kind, f"sgs_{kind}", start, f"{nxt.isoformat()}T00:00:00+08:00", m, m, 0, 0, 0, 0,
                            0, 0, 0, 1, _ts(nxt, 23)))
        conn.executemany("INSERT INTO cf_staging VALUES (?,?,?,?,?,?,?,?,?)", staging)
        conn.executemany("INSERT INTO cf_std VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?)", std)
        conn.executemany("INSERT INTO cf_outcome (run_key, record_id, kind, outcome, op, natural_key, duplicate_of, "
                         "review_reason, detail, due_date, late, due_soon) VALUES (?,?,?,?,?,?,?,?,?,?,?,0)", out)
        conn.executemany("INSERT INTO cf_finding VALUES (?,?,?,?,?,?,?,?)", findings)
        conn.executemany("INSERT INTO cf_ledger (kind, natural_key, owner_record_id, party_key, doc_key, "
                         "decision_date, body_hash, accepted_hash, platform_status, platform_version, state, op, "
                         "run_key, first_accepted_at, updated_at) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)", ledger)
        conn.executemany("INSERT INTO cf_ledger_history (kind, natural_key, record_id, op, state, content_hash, "
                         "run_key, at) VALUES (?,?,?,?,?,?,?,?)", hist)
        conn.executemany("INSERT INTO cf_run_summary (run_key, kind, dag_id, interval_start, interval_end, extracted, "
                         "uploaded, quarantined, awaiting_review, unchanged, duplicates, late, due_soon, "
                         "rejected_files, reconciled, written_at) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)", summary)
        conn.commit()
        counts["records"] += len(out)
        counts["history"] += len(hist)
    counts["ledger"] = conn.execute("SELECT count(*) FROM cf_ledger").fetchone()[0]
    conn.execute("ANALYZE")
    conn.close()
    return counts


def _digest(path: Path) -> str:
    import hashlib

    return hashlib.sha256(path.read_bytes()).hexdigest()


def main() -> int:
    from benchenv import ensure_keyring

    ensure_keyring()  # #19 §3: the warehouse and the pipeline seal personal data
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=1_000_000)
    ap.add_argument("--db", default=None, help="an existing filled SQLite file to reuse")
    ap.add_argument("--keep", action="store_true")
    ap.add_argument("--out", default=None, help="where the report's files go (default: next to the warehouse)")
    ap.add_argument("--compare", default=None,
                    help="a folder of an earlier run's files: say whether summary.json and the PDF are byte-equal")
    ap.add_argument("--repeat", type=int, default=1, help="make the report N times, keep the best total")
    ap.add_argument("--time-read", action="store_true", help="also time reading the whole year on its own")
    args = ap.parse_args()
    from creditflow.core import warehouse as wh
    from creditflow.feedback import build, facts, store
    from creditflow.feedback.periods import month

    if args.db:
        path = Path(args.db.removeprefix("sqlite:///"))
        counts: dict[str, Any] = {}
    else:
        path = Path(tempfile.mkdtemp(prefix="bench-reports-")) / "wh.sqlite"
        t = time.perf_counter()
        counts = fill(path, args.n)
        counts["fill_seconds"] = round(time.perf_counter() - t, 1)
    engine = wh.engine_from_url(f"sqlite:///{path}")
    w = time.perf_counter()
    before_upgrade, _ = wh.upgrade(engine)  # a warehouse filled by an older release is brought to the latest
    upgrade_seconds = round(time.perf_counter() - w, 1)
    period = "2026-10"
    out = Path(args.out) if args.out else path.parent / "out"
    runs = []
    for _ in range(max(1, args.repeat)):
        timings: dict[str, float] = {}
        load_before = os.getloadavg()
        if args.time_read:
            w, c = time.perf_counter(), time.process_time()
            p = month(period)
            facts.load(engine, (p.shifted(-12).start, p.end), p.default_cut_off())
            timings["read"] = round(time.perf_counter() - w, 2)  # the whole year's read, timed on its own
            timings["read_cpu"] = round(time.process_time() - c, 2)
        w, c = time.perf_counter(), time.process_time()
        report = build.compute(engine, "monthly", period)
        timings["figures"] = round(time.perf_counter() - w, 2)
        timings["figures_cpu"] = round(time.process_time() - c, 2)
        w, c = time.perf_counter(), time.process_time()
        files = store.write_files(report, out)
        timings["xlsx_pdf"] = round(time.perf_counter() - w, 2)
        timings["xlsx_pdf_cpu"] = round(time.process_time() - c, 2)
        timings["total_report"] = round(timings["figures"] + timings["xlsx_pdf"], 2)
        timings["total_report_cpu"] = round(timings["figures_cpu"] + timings["xlsx_pdf_cpu"], 2)
        timings["load_avg_before"] = [round(x, 2) for x in load_before]  # type: ignore[assignment]
        timings["load_avg_after"] = [round(x, 2) for x in os.getloadavg()]  # type: ignore[assignment]
        runs.append(timings)
    best = min(runs, key=lambda r: r["total_report"])
    counts.update(upgraded_from=before_upgrade, upgrade_seconds=upgrade_seconds)
    result: dict[str, Any] = {
        "machine": f"{platform.machine()} {platform.python_version()} {os.cpu_count()} cpu", **counts, **best,
        "runs_total": [r["total_report"] for r in runs], "runs": runs,
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024),
        "decisions_in_month": report["headline"]["decisions"], "db": str(path),
        "files": {k: str(v) for k, v in files.items()},
        "sha256": {k: _digest(v) for k, v in files.items() if k in ("summary", "pdf")}}
    if args.compare:
        before = Path(args.compare)
        result["identical_to_compare"] = {
            k: (before / v.name).is_file() and (before / v.name).read_bytes() == v.read_bytes()
            for k, v in files.items() if k in ("summary", "pdf")}
    print(json.dumps(result, ensure_ascii=False, indent=1))
    return 0 if not args.compare or all(result["identical_to_compare"].values()) else 1


if __name__ == "__main__":
    raise SystemExit(main())
