"""Deadlines on the official calendar that may not be computable yet, their status on a day, and lateness.

* :class:`Due` — a deadline: a date, or *unknown* with its reason when it falls in a year whose official
  schedule is not in the data (``待定（2027年官方日历未发布）``). A decision is always recorded; what is
  stored is its start day and rule, and the date is worked out whenever it is read, so the deadline appears
  as soon as the year's file is added (:func:`creditflow.core.workdays.official_calendar` reloads).
* :func:`due_status` — the one answer to "where does this deadline stand on ``today``": overdue (by how
  many working days), due today, or N working days left. Correct when ``today`` is a rest day: a due day
  that has passed is overdue, whatever day of the week today is.
* :func:`published_late` — the one definition of late: the day the platform accepted a record (Beijing
  time) after its deadline day.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass

from creditflow.common import TZ
from creditflow.core import workdays
from creditflow.core.workdays import CalendarNotCovered, WorkdayCalendar


def pending_reason(year: int) -> str:
    """Why a deadline is unknown, as the pages show it inside 待定（…）."""
    return f"{year}年官方日历未发布"


@dataclass(frozen=True)
class Due:
    """A deadline date, or unknown (``date is None``) with the reason and the earliest day it can be."""

    date: dt.date | None
    reason: str | None = None
    missing_year: int | None = None

    @property
    def known(self) -> bool:
        return self.date is not None

    @property
    def earliest(self) -> dt.date | None:
        """An unknown deadline lies in its missing year: not before 1 January of it."""
        return self.date if self.date is not None else (
            dt.date(self.missing_year, 1, 1) if self.missing_year else None)

    def iso(self) -> str | None:
        return self.date.isoformat() if self.date is not None else None

    def label_zh(self) -> str:
        if self.date is not None:
            return self.date.isoformat()
        return f"待定（{self.reason or '无法计算'}）"


def unknown(exc: CalendarNotCovered) -> Due:
    return Due(None, pending_reason(exc.year), exc.year)


def compute(fn: Callable[[], dt.date]) -> Due:
    """``Due(fn())``, or unknown with the reason when ``fn`` needs a year the calendar does not cover."""
    try:
        return Due(fn())
    except CalendarNotCovered as exc:
        return unknown(exc)


def working_day_due(start: dt.date, n: int, calendar: WorkdayCalendar | None = None) -> Due:
    """``n`` working days after ``start`` (the start day not counted), or unknown with its reason."""
    return compute(lambda: (calendar or workdays.official_calendar()).add_working_days(start, n))


def as_due(value: Due | dt.date | str | None) -> Due:
    if isinstance(value, Due):
        return value
    if value is None or value == "":
        return Due(None, "无法计算")
    if isinstance(value, dt.date):
        return Due(value)
    try:
        return Due(dt.date.fromisoformat(str(value)[:10]))
    except ValueError:
        return Due(None, "截止日期无法识别")


STATES_ZH = {"overdue": "已逾期", "due_today": "今日到期", "open": "未到期", "unknown": "待定"}


@dataclass(frozen=True)
class DueStatus:
    """Where a deadline stands on a day.

    ``state``: ``overdue`` | ``due_today`` | ``open`` | ``unknown``; ``days``: working days overdue (≥ 1, or
    None when that count needs an uncovered year) or left (``open``, ≥ 0; ``due_today``: 0).
    """

    state: str
    days: int | None
    due: Due

    @property
    def overdue(self) -> bool:
        return self.state == "overdue"

    @property
    def left(self) -> int | None:
        """Working days left, negative when overdue (the dashboards' clock)."""
        if self.days is None:
            return None
        return -self.days if self.state == "overdue" else self.days

    def label_zh(self) -> str:
        if self.state == "overdue":
            return f"已逾期{self.days}个工作日" if self.days is not None else "已逾期"
        if self.state == "due_today":
            return "今日到期"
        if self.state == "open":
            return f"剩余{self.days}个工作日"
        return self.due.label_zh()


def due_status(due: Due | dt.date | str | None, today: dt.date, calendar: WorkdayCalendar | None = None) -> DueStatus:
    """The status of a deadline on ``today`` on the official calendar.

    * ``today`` after the due day → overdue, by the working days after the due day up to and including the
      first working day on or after ``today``. On Saturday or Sunday after a Friday deadline the record is
      overdue by 1 (the due Friday has passed; Monday is the first working day it is still missing), on the
      Monday by 1, on the Tuesday by 2.
    * ``today`` is the due day → due today (also on a rest day, for a deadline counted in calendar days).
    * ``today`` before it → open, with the working days after today up to and including the due day: on
      Saturday with a Monday deadline, 1 (Monday itself).
    * unknown deadline → unknown (with its reason) while ``today`` is before its earliest day.
    """
    d = as_due(due)
    cal = calendar or workdays.official_calendar()
    if d.date is None:
        return DueStatus("unknown", None, d)
    if today > d.date:
        try:
            first = cal.add_working_days(today, 0)
            return DueStatus("overdue", max(1, cal.working_days_between(d.date, first)), d)
        except CalendarNotCovered:
            return DueStatus("overdue", None, d)
    if today == d.date:
        return DueStatus("due_today", 0, d)
    try:
        return DueStatus("open", cal.working_days_between(today, d.date), d)
    except CalendarNotCovered:
        return DueStatus("open", None, d)


def acceptance_day(accepted_at: dt.datetime | dt.date | str) -> dt.date:
    """The calendar day (Beijing time) of a platform acceptance stored as an ISO time or a date."""
    if isinstance(accepted_at, str):
        text = accepted_at.strip()
        if len(text) == 10:
            return dt.date.fromisoformat(text)
        accepted_at = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    if isinstance(accepted_at, dt.datetime):
        if accepted_at.tzinfo is None:  # the warehouse writes aware times; a naive one is taken as UTC
            accepted_at = accepted_at.replace(tzinfo=dt.UTC)
        return accepted_at.astimezone(TZ).date()
    return accepted_at


def published_late(accepted_at: dt.datetime | dt.date | str, due: Due | dt.date | str | None) -> bool | None:
    """Whether a record was published late: the platform accepted it on a day (Beijing time) after its
    deadline day. ``None`` when that cannot be known (no deadline, or an unknown one the acceptance day
    may still fall within); an unknown deadline is never before 1 January of its missing year, so an
    acceptance before then is on time."""
    d = as_due(due)
    day = acceptance_day(accepted_at)
    if d.date is not None:
        return day > d.date
    earliest = d.earliest
    if earliest is not None and day < earliest:
        return False
    return None


def rule_due(apply: Callable[[], dt.date]) -> Due:
    """A rule's deadline (``apply`` computes it): unknown with the reason when the calendar or the rule
    is missing."""
    from creditflow.core.rules import NoRuleInForce

    try:
        return compute(apply)
    except NoRuleInForce:
        return Due(None, "无有效的期限规则")


def sgs_due(decision_date: dt.date | str | None, calendar: WorkdayCalendar | None = None) -> Due:
    """The 双公示 7-working-day deadline of a decision, or unknown with its reason. ``calendar``: the official
    calendar a caller already holds for many dates (default: :func:`workdays.official_calendar`, which looks
    at the calendar files on every call)."""
    from creditflow.core.rules import sgs_due_date

    if not decision_date:
        return Due(None, "无有效的决定日期")
    try:
        day = decision_date if isinstance(decision_date, dt.date) else dt.date.fromisoformat(str(decision_date))
    except ValueError:
        return Due(None, "无有效的决定日期")
    return rule_due(lambda: sgs_due_date(day, calendar))
