"""What the blind index costs 诚信审核 (#19 §3), in process (by hand, not a test): ``integrity.check`` of one code
at a time — its audit row written in the same transaction, as the CLI and the pages do — on a warehouse of
``--parties`` parties (a tenth natural persons, stored as the credit tables keep them: blind index, sealed name),
``--penalties`` penalties each and 1% listed; then alternately, the same checks with the look-up by the code alone
(the look-up before #19 §3: one key, no HMAC; the same rows found for an organisation), and the pieces:
``lookup_keys`` (HMAC-SM3) and ``unseal`` of a name.

    python bench/integrity_pii.py [--url postgresql://postgres@127.0.0.1:5432/h_piicredit] [--parties 20000]
                                  [--penalties 3] [--checks 2000]

Needs ``AIRFLOW_CONN_CREDITFLOW_PII`` (a fresh keyring is made for the run when it is missing). The tables are
created in a new schema of the database (PostgreSQL) or a temporary SQLite file, and dropped at the end.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import random
import statistics
import tempfile
import time
import uuid
from typing import Any


def _ric(i: int) -> str:
    from creditflow.core import identifiers as ids

    first17 = f"440402{1960 + i % 40}{1 + i % 12:02d}{1 + i % 28:02d}{i % 1000:03d}"
    return first17 + ids.ric_check_char(first17)


def _uscc(i: int) -> str:
    from creditflow.core import identifiers as ids

    body = f"{i:08d}"
    first17 = "91440400" + body + ids.org_code_check_char(body)
    return first17 + ids.uscc_check_char(first17)


def load(engine: Any, parties: int, per_party: int) -> list[str]:

    from creditflow.core import warehouse as wh
    from creditflow.credit.store import stored_party

    codes, pens, cases = [], [], []
    now = wh.now_iso()
    for i in range(parties):
        natural = i % 10 == 0
        code = _ric(i) if natural else _uscc(i)
        kind = "自然人" if natural else "法人及非法人组织"
        party = stored_party(kind, code, "欧阳明华" if natural else f"珠海第{i}号化工有限公司")
        codes.append(code)
        for j in range(per_party):
            day = dt.date(2023, 1, 1) + dt.timedelta(days=(i * 7 + j * 113) % 1400)
            pens.append({"penalty_id": f"case_db:B{i:07d}{j}", "natural_key": f"珠应急罚〔{day.year}〕{i}{j}号|"
                         + party["party_key"], **party, "party_type": kind, "doc_no": f"珠应急罚〔{day.year}〕{i}{j}号",
                         "decision_date": day.isoformat(), "categories": "罚款", "fine_yuan": 20000 + j,
                         "authority_name": "珠海市应急管理局", "regime_id": "ndrc_order_36", "penalty_class": "general",
                         "published": not natural, "repairable": True, "publicity_min_until": None,
                         "publicity_max_until": (day + dt.timedelta(days=365)).isoformat(),
                         "earliest_repair": (day + dt.timedelta(days=90)).isoformat(),
                         "status": "publicising" if not natural else "not_published", "updated_at": now})
        if i % 100 == 7:
            cases.append({"case_id": f"SX-art7_1-B{i}", "situation_id": "art7_1", **party, "party_type": kind,
                          "facts": "x", "basis": "x", "authority_name": "x", "authority_uscc": "11440400MB2C123457",
                          "state": "published", "list_start": "2025-01-01", "list_end": "2028-01-01",
                          "created_on": "2025-01-01", "updated_at": now})
    with engine.begin() as conn:
        for k in range(0, len(pens), 5000):
            conn.execute(wh.credit_penalty.insert(), pens[k:k + 5000])
        conn.execute(wh.credit_case.insert(), cases)
        if engine.dialect.name == "postgresql":
            conn.exec_driver_sql("ANALYZE")
    return codes


def _stats(lat: list[float]) -> dict[str, float]:
    lat = sorted(lat)
    return {"p50_ms": round(statistics.median(lat), 3), "p90_ms": round(lat[int(len(lat) * 0.9)], 3),
            "p99_ms": round(lat[int(len(lat) * 0.99)], 3), "mean_ms": round(statistics.fmean(lat), 3)}


def timed(engine: Any, codes: list[str]) -> dict[str, dict[str, float]]:
    """Each code checked with the blind index and with the code alone, alternately (the machine's load drifts
    alike for both): ``check`` (one transaction, the audit row included) and ``answer_for`` (the reads only)."""
    from creditflow.credit import integrity

    real = integrity.pii.lookup_keys

    def code_only(code: str, ring: Any = None) -> tuple[str, ...]:
        return (code,)

    lat: dict[str, list[float]] = {k: [] for k in ("check_blind", "check_code_only", "answer_blind",
                                                   "answer_code_only")}
    day = dt.date(2026, 12, 6)
    with engine.connect() as conn:
        for i, code in enumerate(codes):
            kind = integrity.identify(code)[1] or "uscc"
            for variant in (("blind", "code_only") if i % 2 else ("code_only", "blind")):
                integrity.pii.lookup_keys = real if variant == "blind" else code_only  # type: ignore[assignment]
                try:
                    t = time.perf_counter()
                    integrity.check(engine, [code], asked_by="bench", channel="cli", as_of=day)
                    lat[f"check_{variant}"].append((time.perf_counter() - t) * 1000)
                    t = time.perf_counter()
                    integrity.answer_for(conn, code, kind, "bidding", day)
                    lat[f"answer_{variant}"].append((time.perf_counter() - t) * 1000)
                finally:
                    integrity.pii.lookup_keys = real  # type: ignore[assignment]
        conn.rollback()
    return {k: _stats(v) for k, v in lat.items()}


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--url", default=os.environ.get("CREDITFLOW_TEST_DATABASE_URL", ""))
    ap.add_argument("--parties", type=int, default=20000)
    ap.add_argument("--penalties", type=int, default=3)
    ap.add_argument("--checks", type=int, default=2000)
    args = ap.parse_args()
    if not os.environ.get("AIRFLOW_CONN_CREDITFLOW_PII"):
        from creditflow.core.pii import keys

        os.environ["AIRFLOW_CONN_CREDITFLOW_PII"] = keys.connection_json(keys.generate_keyring())
    import sqlalchemy as sa
    from creditflow.core import pii
    from creditflow.core import warehouse as wh

    schema = None
    if args.url:
        schema = f"bench_pii_{uuid.uuid4().hex[:8]}"
        admin = sa.create_engine(args.url)
        with admin.begin() as conn:
            conn.exec_driver_sql(f"CREATE SCHEMA {schema}")
        url = f"{args.url}{'&' if '?' in args.url else '?'}options=-csearch_path%3D{schema}"
    else:
        url = f"sqlite:///{tempfile.mkdtemp()}/bench.sqlite"
    engine = wh.engine_from_url(url)
    try:
        wh.upgrade(engine)
        t = time.perf_counter()
        codes = load(engine, args.parties, args.penalties)
        loaded = time.perf_counter() - t
        rng = random.Random(7)
        sample = [rng.choice(codes) for _ in range(args.checks)]
        people = [c for c in codes if c[:17].isdigit()][: args.checks]
        timed(engine, sample[:200])  # warm-up
        out: dict[str, Any] = {"db": engine.dialect.name, "parties": args.parties, "penalties": args.parties
                               * args.penalties, "load_s": round(loaded, 1), "checks": args.checks}
        out["all_codes"] = timed(engine, sample)
        out["natural_persons_only"] = timed(engine, people)
        n = 20000
        t = time.perf_counter()
        for c in codes[:n]:
            pii.lookup_keys(c)
        out["lookup_keys_us"] = round((time.perf_counter() - t) / min(n, len(codes)) * 1e6, 2)
        sealed = pii.seal("欧阳明华")
        t = time.perf_counter()
        for _ in range(n):
            pii.unseal(sealed)
        out["unseal_name_us"] = round((time.perf_counter() - t) / n * 1e6, 2)
        print(json.dumps(out, ensure_ascii=False, indent=1))
    finally:
        engine.dispose()
        if schema:
            with admin.begin() as conn:
                conn.exec_driver_sql(f"DROP SCHEMA {schema} CASCADE")
            admin.dispose()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
