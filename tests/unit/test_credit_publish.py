"""The credit capability's publications go through the shared ledger loop (creditflow.core.ledger): it sends
only its own rows of a kind the 双公示 pipeline also uses, with their reason and their own run key; a platform
rejection keeps the row's ``origin`` (the alerts find it) and its ``message`` is the platform's text only; an
in-flight refusal never shows an ID number."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
import sqlalchemy as sa
from creditflow.core import ledger
from creditflow.core import warehouse as wh
from creditflow.credit import alerts, publish
from helpers import warehouse

PERSON = "11010519491231002X"  # GB 11643 example number (valid check digit)


class FakePlatform:
    def __init__(self, verdict: str) -> None:
        self.verdict, self.sent, self.batches = verdict, [], {}
        self.stats = {"requests": 0, "retries": 0}

    def submit_batch(self, kind: str, items: list[dict[str, Any]], key: str) -> dict[str, Any]:
        self.sent.append((kind, items, key))
        batch_id = f"b{len(self.sent)}"
        self.batches[batch_id] = items
        return {"batch_id": batch_id}

    def batch_status(self, batch_id: str) -> dict[str, Any]:
        return {"status": "done", "receipts": [
            {"seq": i, "status": self.verdict, "code": "E100" if self.verdict == "rejected" else "0",
             "message": "字段缺失", "record_version": 2} for i in range(len(self.batches[batch_id]))]}


def _item(nk: str, reason: str) -> dict[str, Any]:
    return {"natural_key": nk, "op": "withdraw", "payload": {"XK_WSH": nk}, "owner": f"r:{nk}", "party_key": PERSON,
            "doc_key": nk, "decision_date": "2025-01-02", "reason": reason}


@pytest.fixture
def engine(db_url):
    eng = warehouse(db_url)
    with eng.begin() as conn:
        publish.queue(conn, "penalty", [_item(f"W1|{PERSON}", "公示期满，停止公示")], "credit_repair:2026-01-05")
        # the second row is one the 双公示 pipeline queued (origin sgs)
        ledger.queue_sgs(conn, "penalty", "sgs_penalty|2026-01-05", [ledger.Operation(
            natural_key="W2|91440400MA4UABCD1N", op="withdraw", record_id="r:W2|91440400MA4UABCD1N",
            payload='{"XK_WSH": "W2|91440400MA4UABCD1N"}', content_hash="h2", expected=None)], wh.now_iso())
    yield eng
    eng.dispose()


def test_send_takes_only_the_credit_rows_with_their_reason_and_run_key(engine):
    client = FakePlatform("accepted")
    assert publish.send(engine, client, "penalty") == {"batches": 1, "records": 1}
    [(kind, items, _key)] = client.sent
    assert kind == "penalty" and items[0]["reason"] == "公示期满，停止公示"
    with engine.connect() as conn:
        states = dict(conn.execute(sa.select(wh.ledger.c.natural_key, wh.ledger.c.state)).all())
        runs = [r for (r,) in conn.execute(sa.select(wh.ledger_history.c.run_key)
                                           .where(wh.ledger_history.c.state == "sent"))]
    assert states == {f"W1|{PERSON}": "sent", "W2|91440400MA4UABCD1N": "pending"}
    assert runs == ["credit_repair:2026-01-05"]
    assert publish.receipts(engine, client, "penalty") == {"accepted": 1, "rejected": 0, "still_processing": 0}
    with engine.connect() as conn:
        row = conn.execute(sa.select(wh.ledger).where(wh.ledger.c.natural_key == f"W1|{PERSON}")).mappings().one()
    assert (row["state"], row["platform_status"], row["message"]) == ("accepted", "withdrawn", "字段缺失")
    assert (row["origin"], row["reason"], row["op_day"]) == ("credit", "公示期满，停止公示", "2026-01-05")


def test_a_rejection_keeps_the_origin_and_is_alerted(engine):
    client = FakePlatform("rejected")
    publish.send(engine, client, "penalty")
    assert publish.receipts(engine, client, "penalty")["rejected"] == 1
    with engine.connect() as conn:
        row = conn.execute(sa.select(wh.ledger).where(wh.ledger.c.natural_key == f"W1|{PERSON}")).mappings().one()
    assert (row["state"], row["code"], row["message"], row["origin"]) == ("rejected", "E100", "字段缺失", "credit")
    assert any(line.startswith("【退回】") and "E100" in line for line in alerts.due_alerts(engine, dt.date(2026, 1, 6)))


def test_an_operation_in_flight_is_refused_without_showing_the_id_number(engine):
    with engine.begin() as conn, pytest.raises(ValueError) as err:
        publish.queue(conn, "penalty", [_item(f"W1|{PERSON}", "again")], "credit_repair:2026-01-06")
    assert "in flight" in str(err.value) and PERSON not in str(err.value)


def test_the_sgs_loop_collecting_a_credit_row_keeps_its_origin_and_run_and_quarantines_nothing(engine):
    """Both loops send every pending row of kind penalty; when the 双公示 run gets there first, a credit row
    keeps its reason, its own run key in the history, its origin on rejection, and stays out of quarantine."""
    from creditflow.reporting import pipeline as sgs

    client = FakePlatform("rejected")
    run = sgs.Run("sgs_penalty", "penalty", dt.datetime(2026, 1, 5, tzinfo=dt.UTC),
                  dt.datetime(2026, 1, 6, tzinfo=dt.UTC))
    assert sgs.upload(run, engine, client)["records"] == 2
    reasons = {i["data"]["XK_WSH"]: i.get("reason") for _k, items, _key in client.sent for i in items}
    assert reasons[f"W1|{PERSON}"] == "公示期满，停止公示"
    assert sgs.collect_receipts(run, engine, client)["rejected"] == 2
    with engine.connect() as conn:
        row = conn.execute(sa.select(wh.ledger).where(wh.ledger.c.natural_key == f"W1|{PERSON}")).mappings().one()
        history = {r for (r,) in conn.execute(sa.select(wh.ledger_history.c.run_key).where(
            wh.ledger_history.c.natural_key == f"W1|{PERSON}"))}
        quarantined = {r for (r,) in conn.execute(sa.select(wh.findings.c.record_id).where(
            wh.findings.c.rule_id == "PLATFORM_REJECTED"))}
    assert (row["message"], row["origin"]) == ("字段缺失", "credit") and history == {"credit_repair:2026-01-05"}
    assert f"r:W1|{PERSON}" not in quarantined and "r:W2|91440400MA4UABCD1N" in quarantined


def test_a_batch_with_one_record_in_flight_is_refused_whole_and_in_flight_says_so(engine):
    """queue() refuses before it writes: no half-queued batch when one of its records waits for a receipt."""
    with engine.connect() as conn:
        assert publish.in_flight(conn, "penalty", f"W1|{PERSON}")
        assert not publish.in_flight(conn, "penalty", "W9|91440400MA4UABCD1N") and not publish.in_flight(
            conn, "penalty", None)
        before = conn.execute(sa.select(sa.func.count()).select_from(wh.ledger_history)).scalar_one()
    # pytest.raises exits first: the transaction then commits whatever queue() had written
    with engine.begin() as conn, pytest.raises(ValueError):
        publish.queue(conn, "penalty", [_item("W0|91440400MA4UABCD1N", "new"), _item(f"W1|{PERSON}", "again")],
                      "credit_repair:2026-01-06")
    with engine.connect() as conn:
        assert conn.execute(sa.select(wh.ledger.c.natural_key).where(
            wh.ledger.c.natural_key == "W0|91440400MA4UABCD1N")).first() is None
        assert conn.execute(sa.select(sa.func.count()).select_from(wh.ledger_history)).scalar_one() == before
