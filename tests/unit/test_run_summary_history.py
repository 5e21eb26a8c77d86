"""Readers of ``cf_run_summary`` now that it keeps every reconciliation (revision 0014, issue #17.3):
each takes one row per run — the latest for "the run's state", the first before a cut-off for a report."""

from __future__ import annotations

import datetime as dt

import pytest
import sqlalchemy as sa
from creditflow.core import warehouse as wh
from creditflow.feedback.facts import first_reconciled_before
from creditflow.reporting.pipeline import interval

DAY1, DAY2, DAY3 = dt.date(2026, 12, 1), dt.date(2026, 12, 2), dt.date(2026, 12, 3)
SINCE = "2026-12-05T00:00:00+00:00"  # when the history load's DAG run started


@pytest.fixture
def engine(db_url):
    e = wh.engine_from_url(db_url)
    wh.upgrade(e)
    yield e
    e.dispose()


def _reconciled(engine, day: dt.date, ok: bool, at: str, uploaded: int = 0) -> None:
    run = interval.interval_run("penalty", day)
    with engine.begin() as conn:
        conn.execute(wh.run_summary.insert().values(
            run_key=run.run_key, kind="penalty", dag_id=run.dag_id, interval_start=run.start.isoformat(),
            interval_end=run.end.isoformat(), extracted=uploaded, uploaded=uploaded, quarantined=0,
            awaiting_review=0, unchanged=0, duplicates=0, late=0, due_soon=0, rejected_files=0, reconciled=ok,
            written_at=at))


def test_a_day_is_finished_when_its_latest_reconciliation_since_the_load_began_adds_up(engine):
    _reconciled(engine, DAY1, True, "2026-12-05T01:00:00+00:00")
    _reconciled(engine, DAY1, False, "2026-12-05T02:00:00+00:00")  # a later attempt did not add up
    _reconciled(engine, DAY2, False, "2026-12-05T01:00:00+00:00")
    _reconciled(engine, DAY2, True, "2026-12-05T02:00:00+00:00")  # … and its retry did
    _reconciled(engine, DAY3, True, "2026-12-04T23:00:00+00:00")  # before this load: not this load's
    assert interval.finished_days(engine, "penalty", DAY1, DAY3, SINCE) == {DAY2}


def test_a_report_counts_a_run_once_from_its_first_reconciliation(engine):
    _reconciled(engine, DAY1, True, "2026-12-02T06:10:00+00:00", uploaded=121)
    _reconciled(engine, DAY1, True, "2026-12-06T09:00:00+00:00", uploaded=101)  # the backfill's re-run
    s = wh.run_summary

    def counted(cut: str) -> list[tuple[str, int]]:
        with engine.connect() as conn:
            return [tuple(r) for r in conn.execute(sa.select(s.c.written_at, s.c.uploaded)
                                                   .where(first_reconciled_before(cut)))]

    assert counted("2026-12-01T00:00:00+00:00") == []
    # Cut-offs before and after the re-run: the run counts once, as first reconciled (the re-run does
    # not move it past a cut-off that had counted it).
    assert counted("2026-12-03T00:00:00+00:00") == [("2026-12-02T06:10:00+00:00", 121)]
    assert counted("2026-12-07T00:00:00+00:00") == [("2026-12-02T06:10:00+00:00", 121)]
    with engine.connect() as conn:
        latest = conn.execute(sa.select(s.c.uploaded).where(wh.latest_summaries())).scalars().all()
    assert latest == [101]
