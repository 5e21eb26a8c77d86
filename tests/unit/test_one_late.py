"""Issue #16.5: one definition of late — the platform's acceptance day (Beijing time) after the 7-working-day
deadline — for the dashboard's ``cf_outcome.late`` too, which was judged at the interval's end and so called a
backfilled day's records on time when they were published weeks late."""

import datetime as dt

import sqlalchemy as sa
from creditflow.core import warehouse as wh
from creditflow.reporting.pipeline.reconcile import judge_late
from helpers import run_for, warehouse

DAY = dt.date(2026, 11, 2)  # the interval; its end (the old reference for late) is 2026-11-03
DECIDED = "2026-10-30"  # Friday; 国办发〔2015〕51号: 7 working days → Nov 2, 3, 4, 5, 6, 9, 10 → due 2026-11-10


def _record(conn, run, record_id: str, accepted_at: str | None, due: str | None = "2026-11-10") -> None:
    conn.execute(wh.standardised.insert().values(
        run_key=run.run_key, record_id=record_id, kind="penalty", source_system="case_db", decision_date=DECIDED,
        due_date=due, source_revoked=False, content_hash="h", body_hash="b", payload="{}"))
    conn.execute(wh.outcomes.insert().values(run_key=run.run_key, record_id=record_id, kind="penalty",
                                             outcome="uploaded", op="create", due_date=due, late=False,
                                             due_soon=False))
    if accepted_at:
        conn.execute(wh.ledger_history.insert().values(kind="penalty", natural_key=record_id, record_id=record_id,
                                                       op="create", state="accepted", run_key=run.run_key,
                                                       at=accepted_at))


def test_late_is_judged_on_the_beijing_acceptance_day(tmp_path):
    engine = warehouse(f"sqlite:///{tmp_path}/w.sqlite")
    run = run_for(DAY, "penalty")
    with engine.begin() as conn:
        _record(conn, run, "backfilled", "2026-11-20T02:00:00+00:00")  # accepted 20 Nov: late
        _record(conn, run, "last_minute", "2026-11-10T15:30:00+00:00")  # 23:30 on the due day in Beijing
        _record(conn, run, "just_after", "2026-11-10T16:30:00+00:00")  # 00:30 on 11 Nov in Beijing: late
        _record(conn, run, "no_receipt", None)  # not accepted yet: left as decided
        _record(conn, run, "unknown_due", "2026-11-20T02:00:00+00:00", due=None)  # computed from the decision
    assert judge_late(run, engine) == 3
    with engine.connect() as conn:
        late = dict(conn.execute(sa.select(wh.outcomes.c.record_id, wh.outcomes.c.late)).all())
    assert late == {"backfilled": True, "last_minute": False, "just_after": True, "no_receipt": False,
                    "unknown_due": True}
    assert judge_late(run, engine) == 0  # a re-run changes nothing
    engine.dispose()
