"""core/ledger's queue: columns instead of message prefixes, refusals instead of lost updates, one lock that
really excludes (SQLite included) and does not wait for itself."""

from __future__ import annotations

import threading
import time

import pytest
import sqlalchemy as sa
from creditflow.core import ledger
from creditflow.core import warehouse as wh
from helpers import warehouse


@pytest.fixture
def engine(db_url):
    eng = warehouse(db_url)
    yield eng
    eng.dispose()


def _op(nk: str, op: str = "create", expected=ledger.UNCHECKED, **kw) -> ledger.Operation:
    return ledger.Operation(natural_key=nk, op=op, record_id=f"r:{nk}", payload="{}", content_hash=f"h:{nk}:{op}",
                            expected=expected, **kw)


def _row(engine, nk: str) -> dict:
    with engine.connect() as conn:
        return dict(conn.execute(sa.select(wh.ledger).where(wh.ledger.c.natural_key == nk)).mappings().one())


def _settle(engine, nk: str) -> None:
    """The platform accepted the row (as collect_receipts records it)."""
    L = wh.ledger
    with ledger.ledger_lock(engine), engine.begin() as conn:
        conn.execute(L.update().where(L.c.natural_key == nk).values(
            state="accepted", platform_status="published", updated_at="2026-12-06T10:00:01+00:00"))


@pytest.mark.parametrize("run_key, day", [("sgs_penalty|2026-11-03", "2026-11-03"),
                                          ("sgs_penalty|2026-11-03T00:00:00+08:00", "2026-11-03"),
                                          ("credit_list|2026-10-09", "2026-10-09"),
                                          ("credit_repair:2026-01-05", "2026-01-05"), ("r2", None), (None, None)])
def test_op_day_of_every_run_key_form(run_key, day):
    assert ledger.op_day(run_key) == day


def test_the_columns_say_what_the_prefixes_said(engine):
    with engine.begin() as conn:
        ledger.queue_sgs(conn, "penalty", "sgs_penalty|2026-11-05", [
            _op("A|1", "withdraw", None, replaces_record_id="case_db:9")], wh.now_iso())
        ledger.queue_credit(conn, "penalty", "credit_penalties|2029-04-03", [
            _op("A|2", "withdraw", None, reason="公示期满，停止公示")], wh.now_iso())
    a, b = _row(engine, "A|1"), _row(engine, "A|2")
    assert (a["origin"], a["replaces_record_id"], a["reason"], a["op_day"], a["message"]) == (
        "sgs", "case_db:9", None, "2026-11-05", None)
    assert (b["origin"], b["replaces_record_id"], b["reason"], b["op_day"], b["message"]) == (
        "credit", None, "公示期满，停止公示", "2029-04-03", None)
    assert ledger.withdraw_reason(a) == ledger.REPLACED_REASON and ledger.withdraw_reason(b) == "公示期满，停止公示"
    assert ledger.withdraw_reason({"origin": "sgs"}) == ledger.REVOKED_REASON


def test_a_row_changed_since_it_was_read_is_refused_and_nothing_is_written(engine):
    with engine.begin() as conn:
        ledger.queue_sgs(conn, "penalty", "sgs_penalty|2026-11-02", [_op("A|1", expected=None)], wh.now_iso())
    _settle(engine, "A|1")
    read = _row(engine, "A|1")  # what a 双公示 run decides its 更正 on
    with engine.begin() as conn:  # meanwhile the credit capability withdraws it
        ledger.queue_credit(conn, "penalty", "credit_penalties|2029-04-03",
                            [_op("A|1", "withdraw", read, reason="期满")], wh.now_iso())
    with engine.connect() as conn:
        before = conn.execute(sa.select(sa.func.count()).select_from(wh.ledger_history)).scalar_one()
    with pytest.raises(ledger.LedgerConflict, match="in flight"), engine.begin() as conn:
        ledger.queue_sgs(conn, "penalty", "sgs_penalty|2026-11-04", [_op("A|1", "correct", read)], wh.now_iso())
    _settle(engine, "A|1")  # the withdrawal answered: no longer in flight, but not the row the run read
    with pytest.raises(ledger.LedgerConflict, match="changed since"), engine.begin() as conn:
        ledger.queue_sgs(conn, "penalty", "sgs_penalty|2026-11-04", [_op("A|1", "correct", read)], wh.now_iso())
    with pytest.raises(ledger.LedgerConflict), engine.begin() as conn:  # a create where a row appeared
        ledger.queue_sgs(conn, "penalty", "sgs_penalty|2026-11-04", [_op("B|1", expected=None),
                                                                     _op("A|1", expected=None)], wh.now_iso())
    row = _row(engine, "A|1")
    assert (row["op"], row["origin"], row["reason"]) == ("withdraw", "credit", "期满")
    with engine.connect() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(wh.ledger_history)).scalar_one() == before
        assert conn.execute(sa.select(wh.ledger).where(wh.ledger.c.natural_key == "B|1")).first() is None


def test_the_ledger_lock_excludes_another_thread_and_not_its_own(engine):
    order: list[str] = []
    inside = threading.Event()

    def other() -> None:
        inside.wait(10)
        with ledger.ledger_lock(engine):
            order.append("other")

    t = threading.Thread(target=other)
    t.start()
    with ledger.ledger_lock(engine):
        with ledger.ledger_lock(engine):  # re-entrant: a writer inside does not wait for itself
            assert ledger.held(engine)
        inside.set()
        time.sleep(0.5)  # without a real lock, the other thread would go first
        order.append("mine")
        with engine.begin() as conn:  # a write inside: guard sees the lock held, takes nothing more
            ledger.queue_sgs(conn, "penalty", "sgs_penalty|2026-11-02", [_op("C|1", expected=None)], wh.now_iso())
    t.join(10)
    assert order == ["mine", "other"]
    assert not ledger.held(engine)
