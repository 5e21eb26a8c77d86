"""include/creditflow_airflow/timetables.py ``run_interval`` (#18.5): day D = [D 00:00, D+1 00:00) Asia/Shanghai is due at
D+1 06:00 ("late-evening entries reach the case system overnight; district files that arrived before 06:00
belong to D" — the module's rule). A manual trigger WITH a logical date went through without that check."""

from __future__ import annotations

import datetime as dt
from types import SimpleNamespace
from zoneinfo import ZoneInfo

import pytest
from airflow.sdk.exceptions import AirflowFailException
from creditflow_airflow.timetables import run_interval

ZONE = ZoneInfo("Asia/Shanghai")
DELAY = dt.timedelta(hours=6)
DAY = dt.date(2026, 12, 5)
START = dt.datetime(2026, 12, 5, tzinfo=ZONE)
END = dt.datetime(2026, 12, 6, tzinfo=ZONE)


def _context(run_after: dt.datetime) -> dict:
    return {"data_interval_start": START, "data_interval_end": END, "params": {},
            "dag_run": SimpleNamespace(conf={}, run_after=run_after)}


def test_a_manual_run_with_a_logical_date_not_yet_due_is_refused_in_chinese():
    # Triggered at D+1 05:00 with logical date D: D's district files are not all in before D+1 06:00.
    now = dt.datetime(2026, 12, 6, 5, 0, tzinfo=ZONE)
    with pytest.raises(AirflowFailException) as refused:
        run_interval(_context(now), ZONE, DELAY, now=now)
    message = str(refused.value)
    assert "2026-12-05 的数据要到 2026-12-06 6 时后才齐" in message
    assert "选择 2026-12-04 及以前的逻辑日期" in message and "本次未处理任何数据" in message


def test_a_future_logical_date_is_refused_with_the_real_clock():
    today = dt.datetime.now(ZONE).date()
    start = dt.datetime(today.year, today.month, today.day, tzinfo=ZONE)
    context = {"data_interval_start": start, "data_interval_end": start + dt.timedelta(days=1), "params": {},
               "dag_run": SimpleNamespace(conf={}, run_after=dt.datetime.now(dt.UTC))}
    with pytest.raises(AirflowFailException, match="现在还不能上报"):
        run_interval(context, ZONE, DELAY)  # today's run is due tomorrow 06:00 at the earliest


def test_the_scheduled_run_at_d_plus_1_0600_is_due():
    # The timetable creates D's run at D+1 06:00 exactly (run_after = interval end + delay).
    now = END + DELAY
    start, end, why = run_interval(_context(now), ZONE, DELAY, now=now)
    assert (start, end) == (START, END) and "数据区间 2026-12-05 00:00" in why


def test_a_backfill_of_past_days_is_due():
    # A backfill of November, run on 6 December: its runs' run_after is in the past, the clock is now.
    start = dt.datetime(2026, 11, 1, tzinfo=ZONE)
    context = {"data_interval_start": start, "data_interval_end": start + dt.timedelta(days=1), "params": {},
               "dag_run": SimpleNamespace(conf={}, run_after=start + dt.timedelta(days=1))}
    got_start, got_end, _why = run_interval(context, ZONE, DELAY, now=dt.datetime(2026, 12, 6, 10, tzinfo=ZONE))
    assert (got_start, got_end) == (start, start + dt.timedelta(days=1))
