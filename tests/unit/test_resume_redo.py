"""A history load resumed after it stopped redoes the days it had begun, in order; until its turn each of those
days counts as not having run for the earlier ones (``redo``): the records a later day decided, and the reviews
it created or acted on, are what they were when the earlier day first ran (pipeline/rerun.py, extract.py)."""

from __future__ import annotations

import datetime as dt

from creditflow.core import warehouse as wh
from creditflow.reporting.pipeline import interval, rerun
from creditflow.reporting.pipeline.extract import carried_over
from helpers import warehouse

D1, D2, D3 = (interval.interval_run("penalty", dt.date(2026, 10, d)) for d in (1, 2, 3))


def _world(db_url):  # type: ignore[no-untyped-def]
    """Record R waited for review from D1 (its staging row); D3 decided it and acted on its review."""
    engine = warehouse(db_url)
    with engine.begin() as conn:
        conn.execute(wh.staging.insert().values(
            run_key=D1.run_key, record_id="case_db:R", kind="penalty", source_system="case_db", source_key="R",
            lineage="case_no=1", interval_start=D1.start.isoformat(), extracted_at="2026-12-07T01:00:00+00:00",
            raw_payload="{}"))
        conn.execute(wh.reviews.insert().values(
            record_id="case_db:R", content_hash="H", op="create", kind="penalty", reason="natural_person",
            levels_required="1,2", status="approved", created_run_key=D1.run_key, created_at="2026-12-07T01:00:00",
            applied_run_key=D3.run_key))
        conn.execute(wh.outcomes.insert().values(run_key=D3.run_key, record_id="case_db:R", kind="penalty",
                                                 outcome="uploaded", op="create"))
    return engine


def test_a_later_day_to_be_redone_counts_as_not_having_run(db_url):
    engine = _world(db_url)
    with engine.connect() as conn:
        assert rerun.newer_records(conn, D2, ["case_db:R"]) == {"case_db:R": "2026-10-03"}
        assert rerun.newer_records(conn, D2, ["case_db:R"], redo={D3.run_key}) == {}
    assert carried_over(D2, engine) == []  # D3 acted on its review: D2's re-run leaves it to D3
    [carried] = carried_over(D2, engine, redo={D3.run_key})  # D3 is redone after D2: R still waits on D2
    assert carried["source_key"] == "R" and carried["lineage"].startswith("case_no=1")


def test_the_days_a_stopped_load_had_begun(db_url):
    engine = _world(db_url)
    assert interval.touched_days(engine, "penalty", D1.start.date(), D3.start.date(),
                                 "2026-12-07T00:00:00+00:00") == {D1.start.date()}
    assert interval.touched_days(engine, "penalty", D1.start.date(), D3.start.date(),
                                 "2026-12-07T02:00:00+00:00") == set()
