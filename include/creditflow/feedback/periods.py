"""Report periods (a month ``2026-10``, an ISO week ``2026-W44``), their cut-offs and the rule data.

A report covers the decisions *made* in its period and states its figures as of its cut-off: a moment
after the period (monthly: the end of the 9th of the next month; weekly: Monday 08:00 after the week;
``data/reports/definitions.yaml``). Every timestamp the warehouse keeps is compared with the cut-off, so the
same period and cut-off give the same figures whenever the report is made.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import Any

import yaml

from creditflow.common import TZ

REPORT_KINDS = ("monthly", "weekly")
_MONTH = re.compile(r"^(\d{4})-(\d{2})$")
_WEEK = re.compile(r"^(\d{4})-W(\d{2})$")


class PeriodError(ValueError):
    """A period or cut-off that cannot be used (the message says which and why)."""


@cache
def rule_data(name: str) -> dict[str, Any]:
    """One of ``data/reports/*.yaml`` (definitions, targets, exemptions, organisation)."""
    path = resources.files("creditflow") / "data" / "reports" / f"{name}.yaml"
    return yaml.safe_load(path.read_text(encoding="utf-8"))


@dataclass(frozen=True)
class Period:
    kind: str  # monthly | weekly
    label: str  # 2026-10 | 2026-W44
    start: dt.date  # first day
    end: dt.date  # the day after the last day

    @property
    def last_day(self) -> dt.date:
        return self.end - dt.timedelta(days=1)

    @property
    def title_zh(self) -> str:
        if self.kind == "monthly":
            return f"{self.start.year}年{self.start.month}月"
        year, week, _ = self.start.isocalendar()
        return f"{year}年第{week}周（{self.start:%m月%d日}—{self.last_day:%m月%d日}）"

    @property
    def short_zh(self) -> str:
        """A short label for chart axes: 10月 / W44."""
        return f"{self.start.month}月" if self.kind == "monthly" else f"W{self.start.isocalendar()[1]:02d}"

    def shifted(self, n: int) -> Period:
        """The period ``n`` periods later (negative: earlier)."""
        if self.kind == "monthly":
            index = self.start.year * 12 + self.start.month - 1 + n
            return month(f"{index // 12:04d}-{index % 12 + 1:02d}")
        start = self.start + dt.timedelta(weeks=n)
        year, week, _ = start.isocalendar()
        return week_of(f"{year:04d}-W{week:02d}")

    def previous(self) -> Period:
        return self.shifted(-1)

    def same_last_year(self) -> Period:
        if self.kind == "monthly":
            return self.shifted(-12)
        year, week, _ = self.start.isocalendar()
        try:
            return week_of(f"{year - 1:04d}-W{week:02d}")
        except PeriodError:  # week 53 of a year whose previous year has 52
            return week_of(f"{year - 1:04d}-W52")

    def default_cut_off(self) -> dt.datetime:
        """The cut-off the rules give this period (aware, local time)."""
        spec = rule_data("definitions")["periods"][self.kind]
        if self.kind == "monthly":
            day = self.end + dt.timedelta(days=int(spec["cut_off_day"]))  # end of the 9th = the 10th, 00:00
            return dt.datetime.combine(day, dt.time(), TZ)
        hour, minute = (int(x) for x in str(spec["cut_off_time"]).split(":"))
        return dt.datetime.combine(self.end, dt.time(hour, minute), TZ)


def month(label: str) -> Period:
    m = _MONTH.match(label.strip())
    if not m or not 1 <= int(m.group(2)) <= 12:
        raise PeriodError(f"not a month: {label!r} (use YYYY-MM, e.g. 2026-10)")
    start = dt.date(int(m.group(1)), int(m.group(2)), 1)
    end = dt.date(start.year + start.month // 12, start.month % 12 + 1, 1)
    return Period("monthly", f"{start:%Y-%m}", start, end)


def week_of(label: str) -> Period:
    m = _WEEK.match(label.strip().upper())
    if not m:
        raise PeriodError(f"not an ISO week: {label!r} (use YYYY-Www, e.g. 2026-W44)")
    try:
        start = dt.date.fromisocalendar(int(m.group(1)), int(m.group(2)), 1)
    except ValueError:
        raise PeriodError(f"no week {m.group(2)} in {m.group(1)}") from None
    return Period("weekly", f"{int(m.group(1)):04d}-W{int(m.group(2)):02d}", start, start + dt.timedelta(days=7))


def parse_period(kind: str, label: str) -> Period:
    if kind == "monthly":
        return month(label)
    if kind == "weekly":
        return week_of(label)
    raise PeriodError(f"unknown report kind {kind!r} (monthly or weekly)")


def period_before(kind: str, moment: dt.datetime) -> Period:
    """The last whole period before ``moment`` (a scheduled run on 2026-11-10 08:00 reports October)."""
    day = moment.astimezone(TZ).date() if moment.tzinfo else moment.date()
    if kind == "monthly":
        return month(f"{day:%Y-%m}").previous()
    year, week, _ = day.isocalendar()
    return week_of(f"{year:04d}-W{week:02d}").previous()


def now() -> dt.datetime:
    """The present moment, local time, to the minute (a function: tests move it)."""
    return dt.datetime.now(TZ).replace(second=0, microsecond=0)


CUT_OFF_BASIS_ZH = {"rule": "按规则的截止时点", "now": "规则截止时点尚未到，按生成报告的时刻",
                    "given": "按指定的截止时点", "clamped": "指定的截止时点尚未到，按生成报告的时刻"}


def cut_off_of(value: str | dt.date | dt.datetime | None, period: Period) -> dt.datetime:
    """The cut-off (:func:`resolve_cut_off`, without its basis)."""
    return resolve_cut_off(value, period)[0]


def resolve_cut_off(value: str | dt.date | dt.datetime | None, period: Period) -> tuple[dt.datetime, str]:
    """(the cut-off, its basis: ``rule`` | ``now`` | ``given`` | ``clamped`` — :data:`CUT_OFF_BASIS_ZH` says it
    in Chinese).

    Without a value: the period's rule cut-off, or the present moment (to the minute) when that is still in
    the future — figures as of a moment not yet reached would change as the runs go on. Else the end of a
    given day (``2026-11-09`` → 2026-11-10 00:00 local), or a given moment. Inside the period it is allowed
    (a report of the period so far, which says so); before the period's first day it is refused. A given
    moment still in the future is clamped to the present like the default (basis ``clamped``): the report
    promises that regenerating it with the same cut-off gives the same data, untrue for a moment not reached."""
    basis = "given"
    if value is None or value == "":
        moment, basis = period.default_cut_off(), "rule"
        present = now()
        if present < moment:
            moment, basis = present, "now"
    elif isinstance(value, dt.datetime):
        moment = value if value.tzinfo else value.replace(tzinfo=TZ)
    else:
        if isinstance(value, str):
            try:
                value = dt.date.fromisoformat(value.strip())
            except ValueError:
                raise PeriodError(f"not a date: {value!r} (use YYYY-MM-DD)") from None
        moment = dt.datetime.combine(value + dt.timedelta(days=1), dt.time(), TZ)
    if basis == "given" and (present := now()) < moment:
        moment, basis = present, "clamped"
    if moment <= dt.datetime.combine(period.start, dt.time(), TZ):
        raise PeriodError(f"cut-off {moment.isoformat()} is before period {period.label} starts")
    return moment.astimezone(TZ), basis


def stamp(moment: dt.datetime) -> str:
    """A moment as the warehouse writes its timestamps (UTC, seconds, ``+00:00``): string order = time order."""
    return moment.astimezone(dt.UTC).isoformat(timespec="seconds")


def target(metric: str, on: dt.date) -> dict[str, Any] | None:
    """The target of ``metric`` in force on ``on`` (latest ``effective_from`` ≤ on), or None."""
    found = [t for t in rule_data("targets")["targets"] if t["metric"] == metric and t["effective_from"] <= on]
    return dict(max(found, key=lambda t: t["effective_from"])) if found else None
