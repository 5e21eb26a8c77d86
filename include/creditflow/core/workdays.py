"""The official Chinese working-day calendar (工作日): Mon–Fri, minus statutory holidays, plus 调休.

Base data: chinese-calendar (State Council schedules 2004–2026). Project-owned overrides: one YAML file
per year in ``data/calendar/`` (and in ``$CREDITFLOW_CALENDAR_DIR`` if set); a year that has a file is
taken entirely from the file. A date in a year that neither covers raises
:class:`CalendarNotCovered` — never a silent weekday guess. Adding the 2027 schedule is adding
``2027.yaml``; ``creditflow workdays export YEAR`` writes a year of chinese-calendar data in that format.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import threading
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

import yaml

log = logging.getLogger(__name__)


class CalendarNotCovered(LookupError):
    """The official working-day schedule of this year is not known to the project."""

    def __init__(self, year: int, covered: tuple[int, int] | None = None):
        span = f"（已覆盖{covered[0]}–{covered[1]}年）" if covered else ""
        super().__init__(
            f"no official working-day schedule for {year}: add data/calendar/{year}.yaml "
            f"(国务院办公厅{year}年部分节假日安排){span}"
        )
        self.year = year


@dataclass
class YearSchedule:
    year: int
    holidays: dict[dt.date, str] = field(default_factory=dict)
    workdays: dict[dt.date, str] = field(default_factory=dict)  # 调休 working weekend days
    source: str = ""


def _expand(entries: list[dict[str, Any]] | None) -> dict[dt.date, str]:
    out: dict[dt.date, str] = {}
    for entry in entries or []:
        name = str(entry.get("name", ""))
        if "date" in entry:
            out[_as_date(entry["date"])] = name
        else:
            day, last = _as_date(entry["from"]), _as_date(entry["to"])
            while day <= last:
                out[day] = name
                day += dt.timedelta(days=1)
    return out


def _as_date(value: object) -> dt.date:
    return value if isinstance(value, dt.date) else dt.date.fromisoformat(str(value))


class CalendarDataError(ValueError):
    """An override file is malformed."""


def load_year_file(path: Path) -> YearSchedule:
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
        year = int(data["year"])
        sched = YearSchedule(year, _expand(data.get("holidays")), _expand(data.get("workdays")),
                             str(data.get("source", "")))
    except (yaml.YAMLError, TypeError, KeyError, ValueError) as exc:
        raise CalendarDataError(f"{path}: not a calendar file (needs year, source, holidays, workdays): "
                                f"{exc}") from None
    if f"{year}.yaml" != path.name:
        raise CalendarDataError(f"{path}: file name does not match year {year}")
    stray = [d for d in [*sched.holidays, *sched.workdays] if d.year != year]
    if stray:
        raise CalendarDataError(f"{path}: dates outside {year}: {stray[:3]}")
    if not data.get("source"):
        raise CalendarDataError(f"{path}: every calendar file names its source")
    return sched


class WorkdayCalendar:
    """Working-day arithmetic on the official calendar."""

    def __init__(self, override_dirs: list[Path] | None = None, use_library: bool = True):
        self.years: dict[int, YearSchedule] = {}
        self._running_totals: dict[int, tuple[YearSchedule, list[int]]] = {}
        if use_library:
            from chinese_calendar import constants

            for day, name in constants.holidays.items():
                self.years.setdefault(day.year, YearSchedule(day.year, source="chinese-calendar"))
                self.years[day.year].holidays[day] = str(name)
            for day, name in constants.workdays.items():
                self.years.setdefault(day.year, YearSchedule(day.year, source="chinese-calendar"))
                self.years[day.year].workdays[day] = str(name)
        for directory in override_dirs or []:
            for path in sorted(Path(directory).glob("[0-9][0-9][0-9][0-9].yaml")):
                sched = load_year_file(path)
                self.years[sched.year] = sched

    @property
    def covered(self) -> tuple[int, int] | None:
        return (min(self.years), max(self.years)) if self.years else None

    def _year(self, year: int) -> YearSchedule:
        try:
            return self.years[year]
        except KeyError:
            raise CalendarNotCovered(year, self.covered) from None

    def is_workday(self, day: dt.date) -> bool:
        sched = self._year(day.year)
        if day in sched.workdays:
            return True
        if day in sched.holidays:
            return False
        return day.weekday() < 5

    def add_working_days(self, day: dt.date, n: int) -> dt.date:
        """The date ``n`` working days after ``day`` (``day`` itself not counted); n < 0 goes back.

        ``n == 0`` returns ``day`` if it is a working day, else the next working day.
        """
        step = 1 if n >= 0 else -1
        remaining = abs(n)
        current = day
        if remaining == 0:
            while not self.is_workday(current):
                current += dt.timedelta(days=1)
            return current
        while remaining:
            current += dt.timedelta(days=step)
            if self.is_workday(current):
                remaining -= 1
        return current

    def working_days_between(self, start: dt.date, end: dt.date) -> int:
        """Working days in (start, end] — the start day not counted; negative if end < start.

        Counted from each year's running total (:meth:`_running`), not day by day: a run decides on every
        waiting record's deadline, and a record that waited a year would otherwise cost 365 look-ups a day.
        Every year the span touches must be covered, as :meth:`is_workday` requires of each day."""
        if end < start:
            return -self.working_days_between(end, start)
        if end == start:
            return 0
        first = start + dt.timedelta(days=1)
        if first.year == end.year:
            run = self._running(end.year)
            return run[end.timetuple().tm_yday] - run[first.timetuple().tm_yday - 1]
        head = self._running(first.year)
        count = head[-1] - head[first.timetuple().tm_yday - 1]
        for year in range(first.year + 1, end.year):
            count += self._running(year)[-1]
        return count + self._running(end.year)[end.timetuple().tm_yday]

    def _running(self, year: int) -> list[int]:
        """``r[n]``: working days of ``year`` from 1 January to its ``n``-th day (``r[0]`` = 0), built once per
        schedule (a replaced or removed year is noticed: the entry is kept with the schedule it counts)."""
        sched = self._year(year)
        cached = self._running_totals.get(year)
        if cached is not None and cached[0] is sched:
            return cached[1]
        totals, day = [0], dt.date(year, 1, 1)
        while day.year == year:
            totals.append(totals[-1] + self.is_workday(day))
            day += dt.timedelta(days=1)
        self._running_totals[year] = (sched, totals)
        return totals

    def working_days_in_year(self, year: int) -> int:
        self._year(year)
        day, count = dt.date(year, 1, 1), 0
        while day.year == year:
            count += self.is_workday(day)
            day += dt.timedelta(days=1)
        return count

    def export_year(self, year: int) -> str:
        """The year's schedule as an override file (YAML), for review and committing."""
        sched = self._year(year)
        doc = {
            "year": year,
            "source": sched.source if sched.source != "chinese-calendar" else
            f"chinese-calendar (国务院办公厅关于{year}年部分节假日安排的通知)",
            "holidays": [{"date": d.isoformat(), "name": n} for d, n in sorted(sched.holidays.items())],
            "workdays": [{"date": d.isoformat(), "name": n} for d, n in sorted(sched.workdays.items())],
        }
        return yaml.safe_dump(doc, allow_unicode=True, sort_keys=False)


def default_override_dirs() -> list[Path]:
    dirs = [Path(str(resources.files("creditflow") / "data" / "calendar"))]
    extra = os.environ.get("CREDITFLOW_CALENDAR_DIR")
    if extra:
        dirs.extend(Path(p) for p in extra.split(os.pathsep) if p)
    return dirs


def _files_fingerprint(dirs: list[Path]) -> tuple[tuple[str, int, int], ...]:
    out = []
    for directory in dirs:
        for path in sorted(Path(directory).glob("[0-9][0-9][0-9][0-9].yaml")):
            try:
                st = path.stat()
            except OSError:
                continue
            out.append((str(path), st.st_mtime_ns, st.st_size))
    return tuple(out)


class _OfficialCalendar:
    """The official calendar, reloaded as soon as a year file is added or changed (no restart, no re-entry:
    a deadline that was unknown is computed by the next call). A new file that does not load keeps the
    last good calendar in a running process (logged; ``calendar_watch`` fails on it); a process that never
    had one raises :class:`CalendarDataError`."""

    def __init__(self) -> None:
        self._key: tuple[Any, ...] | None = None
        self._cal: WorkdayCalendar | None = None
        self._lock = threading.Lock()

    def __call__(self) -> WorkdayCalendar:
        dirs = default_override_dirs()
        key = (tuple(str(d) for d in dirs), _files_fingerprint(dirs))
        if key == self._key and self._cal is not None:
            return self._cal
        with self._lock:
            if key != self._key or self._cal is None:
                try:
                    self._cal = WorkdayCalendar(dirs)
                except CalendarDataError:
                    if self._cal is None:
                        raise
                    log.exception("calendar files changed but do not load; keeping the previous calendar")
                self._key = key
            return self._cal


official_calendar = _OfficialCalendar()


def longest_rest_run() -> int:
    """The longest run of consecutive rest days in the official calendar's covered years (民法典 第二百零三条:
    a period whose last day is a 法定休假日 ends on the day after the holiday — at most this many days late)."""
    cal = official_calendar()
    if not cal.covered:
        return 0
    known = _REST_RUNS.get(id(cal))
    if known is not None and known[0] is cal:
        return known[1]
    day, end, run, longest = dt.date(cal.covered[0], 1, 1), dt.date(cal.covered[1], 12, 31), 0, 0
    while day <= end:
        run = 0 if cal.is_workday(day) else run + 1
        longest = max(longest, run)
        day += dt.timedelta(days=1)
    _REST_RUNS.clear()  # one calendar at a time: a reloaded calendar (a new year file) is counted again
    _REST_RUNS[id(cal)] = (cal, longest)
    return longest


_REST_RUNS: dict[int, tuple[WorkdayCalendar, int]] = {}


def add_working_days(day: dt.date, n: int) -> dt.date:
    return official_calendar().add_working_days(day, n)


def working_days_between(start: dt.date, end: dt.date) -> int:
    return official_calendar().working_days_between(start, end)


def is_workday(day: dt.date) -> bool:
    return official_calendar().is_workday(day)


def calendar_gaps(today: dt.date, horizon_days: int = 30, warn_from_month: int = 11) -> dict[str, object]:
    """Years the deadline arithmetic will need soon but the calendar lacks.

    ``missing_now``: years within ``horizon_days`` of ``today`` (deadlines computed now would fail);
    ``missing_next_year``: next year, once ``today`` is in or after ``warn_from_month`` (the State
    Council usually publishes in November).
    """
    cal = official_calendar()
    needed = {today.year, (today + dt.timedelta(days=horizon_days)).year}
    missing_now = sorted(y for y in needed if y not in cal.years)
    nxt = today.year + 1
    missing_next = nxt not in cal.years and today.month >= warn_from_month
    return {"today": today.isoformat(), "covered": list(cal.covered or ()), "missing_now": missing_now,
            "missing_next_year": nxt if missing_next else None}
