"""What a daily run and a history load print and report, without Airflow: the step lines, the resume point
of a retried load and the task's outcome when days failed (pipeline/interval.py)."""

from __future__ import annotations

import datetime as dt

from creditflow.common import contains_unmasked_id
from creditflow.reporting.pipeline.interval import DayResult, load_outcome, resume_since, step_line

SUMMARY = {"extracted": 5, "uploaded": 3, "quarantined": 1, "awaiting_review": 1, "unchanged": 0, "duplicates": 0,
           "late": 0, "due_soon": 0, "rejected_files": 0, "reconciled": True,
           "alert": ("临期预警", "身份证号440402199001010014的记录临期"), "seconds": {"total": 1.2}}


def test_step_lines_show_counts_and_time_only():
    line = step_line("penalty", "decide", 0.1234, {"uploaded": 3, "reconciled": True, "note": "text",
                                                   "ratio": 0.5})
    assert line == "[penalty] decide: uploaded 3，ratio 0.5（0.12 秒）"
    assert step_line("license", "extract", 0, {}) == "[license] extract: —（0.00 秒）"


def test_a_retry_resumes_from_the_load_runs_start_in_utc():
    start = dt.datetime(2026, 11, 28, 9, 30, 15, 123456, tzinfo=dt.timezone(dt.timedelta(hours=8)))
    assert resume_since(start) == "2026-11-28T01:30:15+00:00"
    assert resume_since(None) == "9999"  # no start known: no day counts as finished, all are redone


def test_load_outcome_keeps_counts_drops_the_alert_and_names_failed_days():
    ok = [DayResult("penalty", dt.date(2026, 1, d), "success", summary=dict(SUMMARY), seconds=1.0) for d in (1, 2)]
    out, error = load_outcome("行政处罚", ok)
    assert error is None and [r["day"] for r in out] == ["2026-01-01", "2026-01-02"]
    assert all("alert" not in r["summary"] for r in out) and out[0]["summary"]["uploaded"] == 3
    assert "alert" in ok[0].summary  # the results themselves are not changed
    assert not contains_unmasked_id(str(out))

    failed = [DayResult("penalty", dt.date(2026, 2, 1) + dt.timedelta(days=i), "failed", error=f"OSError: 第{i}天")
              for i in range(25)]
    out, error = load_outcome("行政处罚", ok + failed)
    assert error is not None and error.startswith("行政处罚：25 天失败（其余 2 天已完成）：2026-02-01 OSError: 第0天；")
    assert "2026-02-20" in error and "2026-02-21" not in error and error.endswith("…")  # twenty listed
    assert len(out) == 27


class _Killed(BaseException):
    """What a task timeout or a kill looks like to the code (Airflow's are BaseExceptions)."""


def _fake_range(monkeypatch, fail_prepare_on=None, kill_on=None, broken_release_on=None,  # type: ignore[no-untyped-def]
                receipts_in=True, reads_inflight=()):
    """process_range with its stages and interval lock replaced by recorders (no database). ``receipts_in``:
    what a look at an open day's receipts sees; ``reads_inflight``: days whose early decide reads a row
    still in flight."""
    import contextlib

    from creditflow.reporting.pipeline import interval

    held, events = set(), []

    @contextlib.contextmanager
    def lock(_engine, run):  # type: ignore[no-untyped-def]
        day = run.start.date()
        held.add(day)
        events.append(("lock", day))
        yield
        held.discard(day)
        events.append(("unlock", day))
        if day == broken_release_on:
            raise OSError("server closed the connection unexpectedly")

    def prepare(run, *_a):  # type: ignore[no-untyped-def]
        day = run.start.date()
        if day == kill_on:
            raise _Killed()
        if day == fail_prepare_on:
            raise ValueError("坏文件")
        events.append(("prepare", day))
        return {"rejected_files": 0}

    def deliver(run, *_a, early=False):  # type: ignore[no-untyped-def]
        day = run.start.date()
        if early and day in reads_inflight:
            events.append(("in flight", day))
            raise interval.InFlightError("1 ledger operations still in flight")
        events.append(("decide early" if early else "decide", day))
        return {"alert": None}

    def finish(run, *_a, own=False):  # type: ignore[no-untyped-def]
        events.append(("reconcile", run.start.date()))
        return dict(SUMMARY)

    monkeypatch.setattr(interval, "interval_lock", lock)
    monkeypatch.setattr(interval, "prepare_interval", prepare)
    monkeypatch.setattr(interval, "deliver_interval", deliver)
    monkeypatch.setattr(interval, "_finish", finish)
    monkeypatch.setattr(interval, "_receipts_in", lambda *_a: receipts_in)
    return interval, held, events


D1, D2, D3 = dt.date(2026, 1, 1), dt.date(2026, 1, 2), dt.date(2026, 1, 3)


def _steps(events):  # type: ignore[no-untyped-def]
    return [e for e in events if e[0] in ("prepare", "decide", "decide early", "in flight", "reconcile")]


def test_a_range_decides_each_day_only_after_the_day_before_is_reconciled(monkeypatch):
    interval, held, events = _fake_range(monkeypatch)
    interval.process_range("penalty", D1, D2, None, None, None)  # type: ignore[arg-type]
    # D2 is prepared while D1's uploads are processed; D1's receipts are in by then: D1 is reconciled first.
    assert _steps(events) == [("prepare", D1), ("decide", D1), ("prepare", D2), ("reconcile", D1),
                              ("decide", D2), ("reconcile", D2)]
    assert events.index(("lock", D2)) < events.index(("unlock", D1))  # both days' locks held at once
    assert held == set()

    interval, held, events = _fake_range(monkeypatch, fail_prepare_on=D2)
    results = interval.process_range("penalty", D1, D3, None, None, None)  # type: ignore[arg-type]
    assert [(r.day, r.state) for r in results] == [(D1, "success"), (D2, "failed"), (D3, "success")]
    assert _steps(events) == [("prepare", D1), ("decide", D1), ("reconcile", D1), ("prepare", D3), ("decide", D3),
                              ("reconcile", D3)]
    assert held == set()


def test_a_day_decides_before_the_earlier_receipts_only_when_it_reads_none_of_their_rows(monkeypatch):
    interval, held, events = _fake_range(monkeypatch, receipts_in=False, reads_inflight={D3})
    results = interval.process_range("penalty", D1, D3, None, None, None)  # type: ignore[arg-type]
    assert _steps(events) == [
        ("prepare", D1), ("decide", D1),
        ("prepare", D2), ("decide early", D2),  # D1's uploads still out; D2 reads none of them
        ("prepare", D3), ("in flight", D3),  # D3 reads one: nothing written, the open days are closed first
        ("reconcile", D1), ("reconcile", D2), ("decide", D3), ("reconcile", D3)]
    assert [(r.day, r.decided_early) for r in results] == [(D1, False), (D2, True), (D3, False)]  # in day order
    assert held == set()


def test_open_days_are_bounded_and_a_failed_day_is_reported_after_the_open_ones(monkeypatch):
    last = D1 + dt.timedelta(days=interval_max() + 1)
    interval, held, events = _fake_range(monkeypatch, receipts_in=False, fail_prepare_on=last)
    results = interval.process_range("penalty", D1, last, None, None, None)  # type: ignore[arg-type]
    steps = _steps(events)
    # The (MAX+1)th day waits for the oldest before it decides.
    first_reconcile = steps.index(("reconcile", D1))
    assert steps[first_reconcile - 1] == ("prepare", D1 + dt.timedelta(days=interval_max()))
    assert [r.day for r in results] == interval.days_between(D1, last)  # in day order, the failed one last
    assert results[-1].state == "failed" and all(r.state == "success" for r in results[:-1])
    assert held == set()


def interval_max() -> int:
    from creditflow.reporting.pipeline import interval

    return interval.MAX_OPEN_DAYS


def test_no_interval_lock_outlives_a_killed_load_or_a_broken_release(monkeypatch):
    interval, held, _ = _fake_range(monkeypatch, kill_on=D3)
    import pytest

    with pytest.raises(_Killed):  # the kill is never swallowed
        interval.process_range("penalty", D1, D3, None, None, None)  # type: ignore[arg-type]
    assert held == set()  # D2 (waiting for its receipts) and D3 (being prepared) both released

    interval, held, _ = _fake_range(monkeypatch, broken_release_on=D1)
    results = interval.process_range("penalty", D1, D3, None, None, None)  # type: ignore[arg-type]
    assert [r.state for r in results] == ["success"] * 3 and held == set()  # D1's result is kept
