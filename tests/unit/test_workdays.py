import datetime as dt

import pytest
from creditflow.core import workdays
from creditflow.core.workdays import CalendarDataError, CalendarNotCovered, WorkdayCalendar

D = dt.date


@pytest.fixture
def uncovered_year() -> int:
    """A year the official calendar does not cover: the first one after the last covered year. Computed,
    not written down, so adding next year's file (data/calendar/2027.yaml) keeps these tests meaningful."""
    years = workdays.official_calendar().years
    year = max(years) + 1
    assert year not in years
    return year


def test_yearly_totals_match_published_plans():
    cal = workdays.official_calendar()
    assert cal.working_days_in_year(2021) == 250
    assert cal.working_days_in_year(2023) == 249
    assert cal.working_days_in_year(2024) == 251
    assert cal.working_days_in_year(2025) == 248
    assert cal.working_days_in_year(2026) == 248


def test_spring_festival_2026_and_tiaoxiu_saturday():
    # 2026-02-12 + 7 working days lands on Saturday 2026-02-28, a 调休 working day.
    assert workdays.add_working_days(D(2026, 2, 12), 7) == D(2026, 2, 28)
    assert D(2026, 2, 28).weekday() == 5 and workdays.is_workday(D(2026, 2, 28))
    assert workdays.is_workday(D(2026, 2, 14))  # Saturday make-up day before the festival
    assert not workdays.is_workday(D(2026, 2, 17))  # 春节


def test_national_day_2025():
    assert not workdays.is_workday(D(2025, 10, 1))
    assert not workdays.is_workday(D(2025, 10, 8))
    assert workdays.is_workday(D(2025, 9, 28))  # Sunday 调休
    assert workdays.is_workday(D(2025, 10, 11))  # Saturday 调休
    # Decision on Tue 2025-09-30: 10-09 (Thu) is the first working day after the holiday.
    assert workdays.add_working_days(D(2025, 9, 30), 1) == D(2025, 10, 9)
    # 10-09 Thu, 10-10 Fri, 10-11 Sat (调休), 10-13..10-16
    assert workdays.add_working_days(D(2025, 9, 30), 7) == D(2025, 10, 16)


def test_counting_excludes_the_start_day():
    assert workdays.add_working_days(D(2026, 11, 23), 1) == D(2026, 11, 24)  # Mon → Tue
    assert workdays.working_days_between(D(2026, 11, 23), D(2026, 11, 27)) == 4
    assert workdays.working_days_between(D(2026, 11, 27), D(2026, 11, 23)) == -4
    assert workdays.add_working_days(D(2026, 11, 28), 0) == D(2026, 11, 30)  # Sat → next working day
    assert workdays.add_working_days(D(2026, 11, 30), -1) == D(2026, 11, 27)


def test_add_and_between_are_inverse():
    start = D(2026, 1, 1)
    for n in range(1, 60, 7):
        end = workdays.add_working_days(start, n)
        assert workdays.working_days_between(start, end) == n


def test_uncovered_year_raises_a_clear_error(uncovered_year):
    with pytest.raises(CalendarNotCovered, match=str(uncovered_year)) as err:
        workdays.add_working_days(D(uncovered_year - 1, 12, 28), 7)
    assert err.value.year == uncovered_year


def test_override_files_equal_the_library_for_their_years():
    lib = WorkdayCalendar(override_dirs=[])
    mine = workdays.official_calendar()
    for year in (2025, 2026):
        day = D(year, 1, 1)
        while day.year == year:
            assert lib.is_workday(day) == mine.is_workday(day), day
            day += dt.timedelta(days=1)


def test_a_new_year_is_added_as_data(tmp_path, monkeypatch, uncovered_year):
    year = uncovered_year
    saturday = D(year, 1, 4) + dt.timedelta(days=(5 - D(year, 1, 4).weekday()) % 7)  # first Saturday after 3 Jan
    (tmp_path / f"{year}.yaml").write_text(
        f"year: {year}\nsource: test fixture, not the real schedule\n"
        f"holidays:\n  - {{from: {year}-01-01, to: {year}-01-03, name: 元旦}}\n"
        f"workdays:\n  - {{date: {saturday.isoformat()}, name: 调休}}\n", encoding="utf-8")
    cal = WorkdayCalendar(override_dirs=[tmp_path])
    assert not cal.is_workday(D(year, 1, 1))
    assert cal.is_workday(saturday)  # Saturday make-up day from the file
    week = [D(year, 1, 4) + dt.timedelta(days=i) for i in range(7)]
    first = next(d for d in week if d.weekday() < 5 or d == saturday)
    assert cal.add_working_days(D(year - 1, 12, 31), 1) == first  # across the year boundary into the file
    monkeypatch.setenv("CREDITFLOW_CALENDAR_DIR", str(tmp_path))
    assert workdays.WorkdayCalendar(workdays.default_override_dirs()).covered == (2004, year)


def test_override_replaces_the_library_year(tmp_path):
    (tmp_path / "2026.yaml").write_text("year: 2026\nsource: x\nholidays: []\nworkdays: []\n")
    cal = WorkdayCalendar(override_dirs=[tmp_path])
    assert cal.is_workday(D(2026, 10, 1))  # no holidays in the replaced year
    assert not cal.is_workday(D(2026, 2, 28))


@pytest.mark.parametrize(
    "text",
    ["year: 2027\nholidays: []\n", "not: [a calendar", "year: 2027\nsource: s\nholidays:\n  - {date: 2028-01-01}\n"],
)
def test_malformed_override_files_are_refused(tmp_path, text):
    (tmp_path / "2027.yaml").write_text(text)
    with pytest.raises(CalendarDataError):
        WorkdayCalendar(override_dirs=[tmp_path])


def test_calendar_gaps_warn_before_deadlines_fail(uncovered_year):
    last = uncovered_year - 1  # the last covered year
    assert workdays.calendar_gaps(D(last, 11, 10))["missing_now"] == []
    assert workdays.calendar_gaps(D(last, 11, 10))["missing_next_year"] == uncovered_year
    assert workdays.calendar_gaps(D(last, 12, 20))["missing_now"] == [uncovered_year]
    assert workdays.calendar_gaps(D(last, 6, 1))["missing_next_year"] is None


def test_working_days_between_counts_as_day_by_day_across_years() -> None:
    """The running totals give what counting each day of (start, end] gives, also across years, and a span
    touching a year without its schedule still raises CalendarNotCovered."""
    import random

    cal = workdays.WorkdayCalendar(workdays.default_override_dirs())

    def by_day(start: dt.date, end: dt.date) -> int:
        sign, (a, b) = (1, (start, end)) if start <= end else (-1, (end, start))
        n, day = 0, a
        while day < b:
            day += dt.timedelta(days=1)
            n += cal.is_workday(day)
        return sign * n

    rng = random.Random(20)
    base = dt.date(2023, 1, 1)
    pairs = [(base + dt.timedelta(days=rng.randrange(1400)), base + dt.timedelta(days=rng.randrange(1400)))
             for _ in range(400)]
    pairs += [(dt.date(2024, 12, 31), dt.date(2025, 1, 2)), (dt.date(2025, 1, 1), dt.date(2025, 1, 1)),
              (dt.date(2024, 12, 30), dt.date(2026, 1, 1))]
    for start, end in pairs:
        assert cal.working_days_between(start, end) == by_day(start, end), (start, end)
    del cal.years[2025]  # a year whose schedule is gone: counted again, not from a stale total
    with pytest.raises(workdays.CalendarNotCovered):
        cal.working_days_between(dt.date(2024, 12, 20), dt.date(2025, 1, 3))
    assert cal.working_days_between(dt.date(2024, 12, 20), dt.date(2024, 12, 31)) == by_day(
        dt.date(2024, 12, 20), dt.date(2024, 12, 31))
