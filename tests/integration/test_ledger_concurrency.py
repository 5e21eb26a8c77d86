"""A credit withdrawal and a 双公示 更正 of the same penalty, queued at the same moment, end in one defined
order with neither lost, and the platform ends with the publication stopped (issue #17.1).

The penalty is published by the 双公示 pipeline; its content then changes in the case system (a 更正, approved
by two reviewers), and while the next day's run decides it, the credit capability ends its publicity (the
maximum period is over: withdraw). Two threads meet at a barrier: the 双公示 ``decide`` and
``penalties.end_publicity``; the credit run goes the moment ``decide`` has read and planned everything and is
about to write (the window of a lost update), and ``decide`` waits there until the credit run is done (at
most a few seconds: longer when the credit run waits for the ledger lock ``decide`` holds).

Whatever the interleaving, the ledger lock decides the order and the loser sees the winner's row:

* the credit run first: ``decide`` refuses to write over the queued withdrawal (its run fails and, as a
  retry does, runs again: flush the withdrawal, decide — 公示已期满停止，不再上报);
* ``decide`` first (it holds the ledger lock as the daily DAG takes it): the credit run finds the 更正 in
  flight and waits for a later run, which withdraws it once the 更正 is answered.

Either way the platform ends ``withdrawn`` and a later 双公示 run never publishes it again. Before the ledger
had one writer, the credit run queued without the lock while ``decide`` wrote the 更正 over it: the
withdrawal was lost and the platform kept publishing a penalty whose publicity had ended.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import threading
import time

import pytest
import sqlalchemy as sa
from creditflow.core import warehouse as wh
from creditflow.credit import penalties
from creditflow.reporting import pipeline as sgs
from creditflow.reporting import review
from creditflow.reporting.pipeline.interval import ledger_lock
from creditflow_sandbox import generator as g
from creditflow_sandbox import licensing, platform
from helpers import ServedApp, World, deliver_files, licensing_client, platform_client, run_day, run_for, warehouse

pytestmark = [pytest.mark.integration]
DAY = dt.date(2026, 11, 2)  # Monday: published
EDITED = DAY + dt.timedelta(days=1)  # the decision is corrected in the case system: 更正 awaits review
RACE = DAY + dt.timedelta(days=2)  # the approved 更正 is decided while the credit run ends the publicity


@pytest.fixture
def world(tmp_path, db_url):
    cfg = g.GeneratorConfig(seed=7, decisions=12, start=DAY, days=1, rates=dict.fromkeys(g.DEFAULT_RATES, 0.0),
                            person_share=0.0)
    case_url = f"sqlite:///{tmp_path}/case.sqlite"
    g.generate_to(cfg, case_db_url=case_url, licensing_db_url=f"sqlite:///{tmp_path}/lic.sqlite",
                  inbox=tmp_path / "drop", manifest=tmp_path / "m.jsonl", apply_all_events=False)
    case_db = wh.engine_from_url(case_url)
    with ServedApp(platform.create_app(db_url=f"sqlite:///{tmp_path}/pf.sqlite", processing_seconds=0.0)) as pf, \
            ServedApp(licensing.create_app(db_url=f"sqlite:///{tmp_path}/lic.sqlite")) as ls:
        w = World(warehouse(db_url), case_db, tmp_path / "inbox", tmp_path / "drop", pf, ls,
                  g.read_manifest(tmp_path / "m.jsonl"))
        deliver_files(w, DAY)
        run_day(w, DAY, kinds=("penalty",))
        yield w
        w.warehouse.dispose()
    case_db.dispose()


def _published_penalty(w: World) -> tuple[dict, dict]:
    """A penalty the pipeline published that the credit capability publicises: its case row and credit row."""
    with w.warehouse.connect() as conn:
        owners = {r.owner_record_id: r.natural_key for r in conn.execute(sa.select(wh.ledger).where(
            wh.ledger.c.kind == "penalty", wh.ledger.c.state == "accepted",
            wh.ledger.c.platform_status == "published"))}
    start = dt.datetime(DAY.year, DAY.month, DAY.day)
    rows = penalties.case_rows(w.case_db, start - dt.timedelta(days=400), start + dt.timedelta(days=1))
    for row in sorted(rows, key=lambda r: str(r["decision_id"])):
        nk = owners.get(f"case_db:{row['decision_id']}")
        if nk is None:
            continue
        penalties.track(w.warehouse, [row])
        with w.warehouse.connect() as conn:
            pen = conn.execute(sa.select(wh.credit_penalty).where(
                wh.credit_penalty.c.penalty_id == f"case_db:{row['decision_id']}")).mappings().first()
        if pen is not None and pen["status"] == "publicising" and pen["natural_key"] == nk:
            return row, dict(pen)
    raise AssertionError("no published penalty the credit capability publicises")


def _correct_in_case_system(w: World, row: dict) -> None:
    decisions = sa.Table("penalty_decision", sa.MetaData(), autoload_with=w.case_db)
    entered = dt.datetime.combine(EDITED, dt.time(10))
    stamp: object = entered if isinstance(decisions.c.updated_at.type, sa.DateTime) else entered.isoformat(" ")
    with w.case_db.begin() as conn:
        conn.execute(decisions.update().where(decisions.c.decision_id == row["decision_id"]).values(
            fine_yuan=float(row["fine_yuan"] or 0) + 1000, updated_at=stamp))


class HeldBeforeWrite:
    """Holds ``decide``'s thread at its first write (everything read and planned: ``decide_ready``) until the
    credit run has queued, or ``timeout`` seconds (then the credit run is waiting for the ledger lock decide
    holds)."""

    def __init__(self, engine: sa.Engine, timeout: float = 3.0) -> None:
        self.engine, self.timeout = engine, timeout
        self.thread: int | None = None
        self.decide_ready, self.credit_done = threading.Event(), threading.Event()
        self.held = False

    def __call__(self, conn, cursor, statement, parameters, context, executemany) -> None:
        if threading.get_ident() != self.thread or self.held:
            return
        if statement.lstrip().split(None, 1)[0].upper() in ("INSERT", "UPDATE", "DELETE"):
            self.held = True
            self.decide_ready.set()
            self.credit_done.wait(self.timeout)

    def __enter__(self) -> HeldBeforeWrite:
        sa.event.listen(self.engine, "before_cursor_execute", self)
        return self

    def __exit__(self, *exc: object) -> None:
        sa.event.remove(self.engine, "before_cursor_execute", self)


def _prepare(w: World, run: sgs.Run, client) -> None:
    sources = sgs.Sources(case_db=w.case_db, licensing=licensing_client(w.licensing.url), inbox=w.inbox)
    sgs.extract(run, w.warehouse, sources)
    sgs.standardise(run, w.warehouse)
    sgs.validate(run, w.warehouse)
    sgs.flush_inflight(run, w.warehouse, client, wait=10, poll=0.05)


def _deliver(w: World, run: sgs.Run, client) -> None:
    sgs.upload(run, w.warehouse, client)
    deadline = time.monotonic() + 15
    while sgs.collect_receipts(run, w.warehouse, client)["still_processing"]:
        assert time.monotonic() < deadline, "receipts never arrived"
        time.sleep(0.05)


def _platform_status(w: World, nk: str) -> str:
    held = {r["natural_key"]: r["status"] for r in w.platform.admin("GET", "/admin/records?kind=penalty")["records"]}
    return held[nk]


@pytest.mark.parametrize("dag_lock", [False, True], ids=["decide-alone", "decide-under-the-dag-lock"])
def test_a_withdrawal_and_a_correction_queued_at_once_end_withdrawn(world, dag_lock):
    w = world
    client = platform_client(w.platform.url)
    row, pen = _published_penalty(w)
    nk, rid = pen["natural_key"], pen["penalty_id"]
    _correct_in_case_system(w, row)
    run_day(w, EDITED, kinds=("penalty",))
    [waiting] = [r for r in review.pending(w.warehouse) if r["record_id"] == rid]
    assert waiting["op"] == "correct"
    for level, who in ((1, "reviewer1"), (2, "reviewer2")):
        review.record_decision(w.warehouse, rid, waiting["content_hash"], "correct", level, "approve", who, "同意更正")

    ended_on = dt.date.fromisoformat(penalties.current_dates(pen)["publicity_max_until"]) + dt.timedelta(days=1)
    credit_run = f"credit_penalties|{ended_on.isoformat()}"
    run = run_for(RACE, "penalty")
    _prepare(w, run, client)
    barrier = threading.Barrier(2, timeout=30)
    errors: dict[str, BaseException] = {}
    with HeldBeforeWrite(w.warehouse) as hold:
        def sgs_decide() -> None:
            hold.thread = threading.get_ident()
            barrier.wait()
            try:
                with ledger_lock(w.warehouse) if dag_lock else contextlib.nullcontext():
                    sgs.decide(run, w.warehouse)
            except Exception as exc:  # the run fails; Airflow retries it (below)
                errors["decide"] = exc

        def credit_end() -> None:
            barrier.wait()
            hold.decide_ready.wait(20)  # the moment decide has read and planned: the window of the lost update
            try:
                penalties.end_publicity(w.warehouse, ended_on, credit_run)
            except Exception as exc:  # pragma: no cover - reported below
                errors["credit"] = exc
            finally:
                hold.credit_done.set()

        threads = [threading.Thread(target=sgs_decide), threading.Thread(target=credit_end)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(60)
    assert "credit" not in errors
    if "decide" in errors:  # the credit run queued first: the run's retry flushes it and decides again
        _prepare(w, run, client)
        sgs.decide(run, w.warehouse)
    _deliver(w, run, client)
    sgs.reconcile(run, w.warehouse)
    # A credit run found the 更正 in flight (it waited): a later one stops the publication once it is answered.
    penalties.end_publicity(w.warehouse, ended_on + dt.timedelta(days=1), f"credit_penalties|{ended_on}+1")
    _deliver(w, run_for(RACE + dt.timedelta(days=1), "penalty"), client)

    assert _platform_status(w, nk) == "withdrawn"
    run_day(w, RACE + dt.timedelta(days=1), kinds=("penalty",))  # a later run never publishes it again
    assert _platform_status(w, nk) == "withdrawn"

    with w.warehouse.connect() as conn:
        led = dict(conn.execute(sa.select(wh.ledger).where(wh.ledger.c.kind == "penalty",
                                                           wh.ledger.c.natural_key == nk)).mappings().one())
        history = [(h.op, h.state, h.run_key) for h in conn.execute(sa.select(wh.ledger_history).where(
            wh.ledger_history.c.kind == "penalty", wh.ledger_history.c.natural_key == nk)
            .order_by(wh.ledger_history.c.id))]
        status = conn.execute(sa.select(wh.credit_penalty.c.status).where(
            wh.credit_penalty.c.penalty_id == rid)).scalar_one()
        outcome = conn.execute(sa.select(wh.outcomes.c.outcome, wh.outcomes.c.op, wh.outcomes.c.detail).where(
            wh.outcomes.c.run_key == run.run_key, wh.outcomes.c.record_id == rid)).one()
    assert (led["state"], led["platform_status"], led["op"]) == ("accepted", "withdrawn", "withdraw")
    assert status == "ended"
    withdrawals = [h for h in history if h[0] == "withdraw"]
    assert [s for _, s, _ in withdrawals] == ["pending", "sent", "accepted"]  # queued once, sent once
    assert withdrawals[0][2].startswith("credit_penalties|")
    corrections = [s for op, s, _ in history if op == "correct"]
    if not dag_lock:  # the credit run queued first (decide was held): the 更正 was decided against the stop
        assert type(errors.get("decide")).__name__ == "LedgerConflict", errors
        assert corrections == []
        assert outcome.outcome == "unchanged" and "不再上报" in (outcome.detail or "")
    else:  # decide held the lock: the 更正 first, published, then withdrawn by the later credit run
        assert errors == {}
        assert corrections == ["pending", "sent", "accepted"] and outcome.op == "correct"
        assert history.index(("correct", "accepted", run.run_key)) < history.index(withdrawals[0])
