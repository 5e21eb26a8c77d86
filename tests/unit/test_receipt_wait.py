"""wait_for_receipts (process_interval, process_range) looks for a day's receipts every 0.1 s while the
platform is likely to answer, so a history day does not wait long after its batch was answered."""

from __future__ import annotations

import datetime as dt
import importlib
import itertools

import pytest
from creditflow.common import TZ
from creditflow.reporting.pipeline.common import Run

stages = importlib.import_module("creditflow.reporting.pipeline.stages")
START = dt.datetime(2026, 11, 2, tzinfo=TZ)
RUN = Run("sgs_license", "license", START, START + dt.timedelta(days=1))


def test_the_pause_is_short_while_an_answer_is_likely_then_two_seconds():
    assert [stages.receipt_poll(w) for w in (0.0, 0.3, 1.99)] == [0.1, 0.1, 0.1]
    assert [stages.receipt_poll(w) for w in (2.0, 10.0, 500.0)] == [2.0, 2.0, 2.0]


class Clock:
    """A virtual clock for the module's ``time``: sleeping advances it (no wall time, no flakiness)."""

    def __init__(self) -> None:
        self.now = 1000.0

    def monotonic(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds


def test_a_batch_answered_after_0_4_s_is_seen_within_0_1_s(monkeypatch):
    clock = Clock()
    monkeypatch.setattr(stages, "time", clock)
    answered = clock.now + 0.4
    looks: list[float] = []

    def collect(run, engine, client, own=False):
        looks.append(clock.now)
        return {"accepted": 3, "rejected": 0, "still_processing": 0 if clock.now >= answered - 1e-9 else 3}

    monkeypatch.setattr(stages, "collect_receipts", collect)
    got = stages.wait_for_receipts(RUN, None, None, timeout=10)
    assert got["still_processing"] == 0
    assert looks[-1] - answered < 0.1  # seen at the first look after the answer
    assert len(looks) == 5  # 0, 0.1, 0.2, 0.3, 0.4 (the old doubling pause: 0, 0.05, 0.15, 0.35, 0.75)
    clock2 = Clock()  # a slow platform: after 2 s of waiting, a look every 2 s
    monkeypatch.setattr(stages, "time", clock2)
    late = clock2.now + 7.0
    looks.clear()
    monkeypatch.setattr(stages, "collect_receipts", lambda r, e, c, own=False: looks.append(clock2.now) or {
        "still_processing": 0 if clock2.now >= late else 1})
    stages.wait_for_receipts(RUN, None, None, timeout=60)
    gaps = [round(b - a, 3) for a, b in itertools.pairwise(looks)]
    assert set(gaps[:20]) == {0.1} and set(gaps[21:]) == {2.0} and looks[-1] - late < 2.0


def test_no_answer_in_time_raises(monkeypatch):
    monkeypatch.setattr(stages, "time", Clock())
    monkeypatch.setattr(stages, "collect_receipts", lambda run, engine, client, own=False: {"still_processing": 2})
    with pytest.raises(stages.ReceiptsTimeoutError, match="2 条记录"):
        stages.wait_for_receipts(RUN, None, None, timeout=0.3)


def test_an_early_flush_resends_and_leaves_the_receipts_to_the_load(monkeypatch):
    import importlib

    up = importlib.import_module("creditflow.reporting.pipeline.upload")  # the module (the package exports the function)
    calls: list[str] = []
    monkeypatch.setattr(up, "upload", lambda run, engine, client: calls.append("upload") or {"records": 2})
    monkeypatch.setattr(up, "collect_receipts", lambda run, engine, client, own=False: calls.append("collect") or {
        "accepted": 1, "rejected": 0, "still_processing": 0})
    assert up.flush_inflight(RUN, None, None, collect=False)["resent"] == 2 and calls == ["upload"]
    assert up.flush_inflight(RUN, None, None)["accepted"] == 1 and calls == ["upload", "upload", "collect"]
