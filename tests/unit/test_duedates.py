"""Deadline status on any day (issue #18.2), unknown deadlines beyond the calendar (#16.4), one definition of
late (#16.5). Calendar facts from data/calendar/2026.yaml (国务院办公厅关于2026年部分节假日安排的通知):
国庆 10-01..10-07 off, Sunday 09-20 and Saturday 10-10 are 调休 working days; 2026-12-31 is a Thursday."""

import datetime as dt

import pytest
from creditflow.core import duedates, workdays
from creditflow.core.duedates import Due, due_status, published_late
from creditflow.core.workdays import WorkdayCalendar

D = dt.date
FRIDAY = D(2026, 12, 4)


@pytest.fixture
def uncovered_year() -> int:
    years = workdays.official_calendar().years
    return max(years) + 1


def test_sunday_after_a_friday_deadline_is_overdue_not_due_today():
    # The 7-working-day clock: the due Friday has passed on Saturday and Sunday; Monday 12-07 is the
    # first working day the record is still missing → overdue by 1; Tuesday → 2.
    for today in (D(2026, 12, 5), D(2026, 12, 6), D(2026, 12, 7)):
        s = due_status(FRIDAY, today)
        assert (s.state, s.days, s.left) == ("overdue", 1, -1), today
        assert s.label_zh() == "已逾期1个工作日"
    assert due_status(FRIDAY, D(2026, 12, 8)).days == 2
    assert due_status(FRIDAY, FRIDAY).state == "due_today"
    assert due_status(FRIDAY, FRIDAY).label_zh() == "今日到期"


def test_saturday_before_a_monday_deadline_has_one_working_day_left():
    s = due_status(D(2026, 12, 7), D(2026, 12, 5))
    assert (s.state, s.days) == ("open", 1)
    assert s.label_zh() == "剩余1个工作日"
    assert due_status(D(2026, 12, 8), D(2026, 12, 4)).days == 2  # Fri → Mon, Tue


def test_national_day_holiday():
    due = D(2026, 9, 30)  # Wednesday before 国庆
    assert due_status(due, D(2026, 10, 3)).days == 1  # first working day after the holiday: Thu 10-08
    assert due_status(due, D(2026, 10, 8)).days == 1
    assert due_status(due, D(2026, 10, 9)).days == 2
    # during the holiday, a deadline on Fri 10-09: 10-08 and 10-09 remain
    assert (due_status(D(2026, 10, 9), D(2026, 10, 2)).state, due_status(D(2026, 10, 9), D(2026, 10, 2)).days) \
        == ("open", 2)


def test_tiaoxiu_working_saturday():
    sat = D(2026, 10, 10)  # 调休: a working Saturday
    assert due_status(sat, sat).state == "due_today"
    assert due_status(D(2026, 10, 12), sat).days == 1  # Monday: 1 left
    assert due_status(D(2026, 10, 9), sat).days == 1  # Friday's deadline: overdue by 1 on the working Saturday
    assert due_status(D(2026, 10, 9), D(2026, 10, 11)).days == 2  # Sunday: Sat 10-10 and Mon 10-12 are missed
    assert due_status(D(2026, 9, 18), D(2026, 9, 20)).days == 1  # the working Sunday 09-20 counts


def test_last_day_of_the_year(uncovered_year, tmp_path):
    last = D(uncovered_year - 1, 12, 31)
    assert due_status(last, last).state == "due_today"
    # The day before: overdue by 1 on the 31st (a working day in 2026: Thursday).
    if workdays.is_workday(last):
        assert due_status(last - dt.timedelta(days=1), last).days == 1
    # A 7-working-day deadline from 2026-12-28 lies in the uncovered year: unknown, with its reason.
    due = duedates.working_day_due(D(uncovered_year - 1, 12, 28), 7)
    assert not due.known and due.missing_year == uncovered_year
    assert due.label_zh() == f"待定（{uncovered_year}年官方日历未发布）"
    s = due_status(due, last)
    assert s.state == "unknown" and s.label_zh() == due.label_zh()
    # With the year's file the same computation gives the date (a fixture year: New Year 1-3 off).
    (tmp_path / f"{uncovered_year}.yaml").write_text(
        f"year: {uncovered_year}\nsource: test fixture\nholidays:\n"
        f"  - {{from: {uncovered_year}-01-01, to: {uncovered_year}-01-03, name: 元旦}}\nworkdays: []\n",
        encoding="utf-8")
    cal = WorkdayCalendar([*workdays.default_override_dirs(), tmp_path])
    known = duedates.working_day_due(D(uncovered_year - 1, 12, 28), 7, cal)
    assert known.known and known.date == cal.add_working_days(D(uncovered_year - 1, 12, 28), 7)
    assert known.date.year == uncovered_year


def test_official_calendar_picks_up_a_new_year_file(uncovered_year, tmp_path, monkeypatch):
    start = D(uncovered_year - 1, 12, 28)
    assert not duedates.working_day_due(start, 7).known
    (tmp_path / f"{uncovered_year}.yaml").write_text(
        f"year: {uncovered_year}\nsource: test fixture\nholidays: []\nworkdays: []\n", encoding="utf-8")
    monkeypatch.setenv("CREDITFLOW_CALENDAR_DIR", str(tmp_path))
    assert duedates.working_day_due(start, 7).known  # no restart, no cache clearing
    monkeypatch.delenv("CREDITFLOW_CALENDAR_DIR")
    assert not duedates.working_day_due(start, 7).known


def test_a_broken_new_file_keeps_the_last_good_calendar(tmp_path, monkeypatch, uncovered_year):
    before = workdays.official_calendar()
    (tmp_path / f"{uncovered_year}.yaml").write_text("# not a calendar yet\n", encoding="utf-8")
    monkeypatch.setenv("CREDITFLOW_CALENDAR_DIR", str(tmp_path))
    assert workdays.official_calendar() is before


def test_published_late_uses_the_beijing_acceptance_day():
    # Due Friday 2026-12-04: accepted 23:59:59 Beijing (15:59:59 UTC) is on time, 00:00 Saturday is late.
    assert published_late("2026-12-04T15:59:59+00:00", FRIDAY) is False
    assert published_late("2026-12-04T16:00:00+00:00", FRIDAY) is True
    assert published_late(D(2026, 12, 7), "2026-12-04") is True
    assert published_late(D(2026, 12, 4), None) is None


def test_an_unknown_deadline_is_not_late_before_its_year():
    due = Due(None, duedates.pending_reason(2027), 2027)
    assert published_late(D(2026, 12, 30), due) is False
    assert published_late(D(2027, 1, 20), due) is None
