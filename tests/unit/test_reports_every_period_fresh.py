"""Every report computes its 13 periods afresh from one read of its window (no stored figures since revision
0016): a trend point or a comparison is what that period's own report states for the same cut-off, and a
report is the same bytes however often, and after whatever other reports, it is made.

The warehouse is the benchmark's (bench/reports.py ``fill``) at 10 records a day: a year of runs, ledger
history, quarantine, review, late and corrected records, reported for 2026-10 (cut-off 2026-11-10).
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest
import sqlalchemy as sa
from creditflow.core import warehouse as wh
from creditflow.feedback import build
from creditflow.feedback.periods import month

ROOT = Path(__file__).resolve().parents[2]
PERIOD = "2026-10"


@pytest.fixture(scope="module")
def engine(tmp_path_factory):
    spec = importlib.util.spec_from_file_location("bench_reports", ROOT / "bench" / "reports.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    path = tmp_path_factory.mktemp("fresh") / "wh.sqlite"
    module.fill(path, 3650)
    engine = wh.engine_from_url(f"sqlite:///{path}")
    yield engine
    engine.dispose()


def test_trend_and_comparison_are_what_each_periods_own_report_states(engine):
    report = build.compute(engine, "monthly", PERIOD)
    p = month(PERIOD)
    for point in report["trend"][:-1]:
        q = month(point["period"])
        own = build.compute(engine, "monthly", q.label, q.default_cut_off())["headline"]
        assert (point["decisions"], point["timely_rate"], point["compliance_rate"]) == \
            (own["decisions"], own["timely_rate"], own["compliance_rate"]), q.label
    previous = build.compute(engine, "monthly", p.previous().label, p.previous().default_cut_off())["headline"]
    rows = {r["metric"]: r for r in report["comparison"]["rows"]}
    assert {m: r["previous"] for m, r in rows.items()} == {m: previous.get(m) for m in rows}
    assert report["trend"][0]["decisions"] > 0 and rows["decisions"]["previous"] > 0


def test_a_report_is_the_same_bytes_whatever_was_made_before(engine):
    first = build.dumps(build.compute(engine, "monthly", PERIOD))
    build.compute(engine, "monthly", "2026-09")
    build.compute(engine, "weekly", "2026-W40")
    assert build.dumps(build.compute(engine, "monthly", PERIOD)) == first


def test_a_rerun_counts_from_its_first_reconciliation_in_every_period(engine):
    """A backfill re-runs 15 September after the report's cut-off: its reconciliation is added (the first one
    stays, so the run still counts) and the report states the same figures for September in its trend as
    September's own report does."""
    s = wh.run_summary
    key = "sgs_penalty|2026-09-15"
    with engine.begin() as conn:
        row = conn.execute(sa.select(s).where(s.c.run_key == key)).mappings().one()
        conn.execute(s.insert().values({**{k: v for k, v in row.items() if k != "id"},
                                        "written_at": "2026-11-20T01:00:00+00:00", "uploaded": 0}))
    try:
        report = build.compute(engine, "monthly", PERIOD)
        september = build.compute(engine, "monthly", "2026-09", month("2026-09").default_cut_off())["headline"]
        assert report["trend"][-2]["decisions"] == september["decisions"] > 0
    finally:
        with engine.begin() as conn:
            conn.execute(s.delete().where(s.c.run_key == key, s.c.written_at == "2026-11-20T01:00:00+00:00"))
