"""Which days a resumed history load finishes instead of deciding again (``interval.resumable_days``): decided by
this load (``cf_outcome.decided_at`` at or after its start) and not reconciled after that decision — cleanly or not."""

from __future__ import annotations

import datetime as dt

from creditflow.core import warehouse as wh
from creditflow.reporting.pipeline import interval
from helpers import warehouse

DAYS = [dt.date(2026, 10, d) for d in range(1, 6)]
SINCE = "2026-12-07T01:00:00+00:00"


def test_a_resumed_load_finishes_the_days_it_decided_and_never_reconciled(db_url):
    engine = warehouse(db_url)
    key = {d: interval.interval_run("penalty", d).run_key for d in DAYS}
    decided = {DAYS[0]: "2026-12-07T01:05:00+00:00",  # decided and reconciled by this load: finished
               DAYS[1]: "2026-12-07T01:06:00+00:00",  # decided, reconciliation failed: done again from the start
               DAYS[2]: "2026-12-07T01:07:00+00:00",  # decided, stopped before reconciling: finished
               DAYS[3]: "2026-12-06T09:00:00+00:00",  # decided by an earlier load: done again
               DAYS[4]: "2026-12-07T01:20:00+00:00"}  # reconciliation failed, decided again, stopped: finished
    with engine.begin() as conn:
        for day, at in decided.items():
            conn.execute(wh.outcomes.insert().values(run_key=key[day], record_id="case_db:1", kind="penalty",
                                                     outcome="uploaded", op="create", decided_at=at))
        for day, ok in ((DAYS[0], True), (DAYS[1], False), (DAYS[4], False)):
            conn.execute(wh.run_summary.insert().values(
                run_key=key[day], kind="penalty", dag_id="sgs_penalty", interval_start=f"{day}T00:00:00+08:00",
                interval_end=f"{day}T00:00:00+08:00", extracted=1, uploaded=1, quarantined=0, awaiting_review=0,
                unchanged=0, duplicates=0, late=0, due_soon=0, rejected_files=0, reconciled=ok,
                written_at="2026-12-07T01:10:00+00:00"))
    assert interval.resumable_days(engine, "penalty", DAYS[0], DAYS[-1], SINCE) == {DAYS[2], DAYS[4]}
    assert interval.resumable_days(engine, "license", DAYS[0], DAYS[-1], SINCE) == set()
    assert interval.finished_days(engine, "penalty", DAYS[0], DAYS[-1], SINCE) == {DAYS[0]}
