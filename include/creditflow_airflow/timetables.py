"""The daily reporting schedule: one local day per run, the run created some hours after the day closes.

``sgs_<kind>`` covers [D 00:00, D+1 00:00) Asia/Shanghai and must not start before D+1 06:00 (late-evening
entries reach the case system overnight; district files that arrived before 06:00 belong to D). A sensor
task waiting until 06:00 cost a task start and a deferral on every run — in a backfill of a year that is a
thousand task starts for nothing. The timetable says it instead: the run of D is *created* at D+1 06:00
(``run_after``), its data interval stays the day. Backfills of past days start at once, as before.

A run may also come without a logical date — a manual trigger through the REST API, the UI's trigger form
left empty, ``scripts/demo.py``, the 审核 page's 立即上报 — and then has no data interval at all.
:func:`run_interval` gives every run of ``sgs_<kind>`` its day: the data interval when there is one; else the
day named in the run's parameter ``day``; else the latest day whose run is due (D+1 06:00 has passed) — the
day the schedule would process last. A day whose run is not yet due — named by ``day`` or by a manual trigger's
logical date (its data interval) while D+1 06:00 has not passed (district files not in yet) — or a ``day``
that contradicts the run's own interval, is refused at once (``AirflowFailException``: no retries) with a
Chinese message saying what to do. Scheduled runs (created at D+1 06:00) and backfills of past days are due.

Registered by ``plugins/creditflow_plugin.py`` (Airflow deserialises custom timetables only from plugins): the
scheduler, the dag-processor and the API server find it through the plugin; DAG files import it from here, so
the class is one object under one module name, ``creditflow_airflow.timetables``.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from airflow.timetables.base import DagRunInfo, DataInterval, TimeRestriction
from airflow.timetables.interval import CronDataIntervalTimetable


class DelayedDailyTimetable(CronDataIntervalTimetable):
    """Cron data intervals whose runs are created ``delay`` after the interval ends."""

    def __init__(self, cron: str, timezone: Any, delay: dt.timedelta) -> None:
        super().__init__(cron, timezone)
        self._delay = delay
        self.description = f"{self.description}; each run starts {delay} after its interval ends"

    @property
    def summary(self) -> str:
        hours = self._delay.total_seconds() / 3600
        return f"{self._expression}（区间结束后 {hours:g} 小时运行）"

    def next_dagrun_info(self, *, last_automated_data_interval: DataInterval | None,
                         restriction: TimeRestriction) -> DagRunInfo | None:
        info = super().next_dagrun_info(last_automated_data_interval=last_automated_data_interval,
                                        restriction=restriction)
        if info is None or info.data_interval is None:
            return info
        return DagRunInfo(run_after=info.data_interval.end + self._delay, data_interval=info.data_interval)

    def serialize(self) -> dict[str, Any]:
        return {**super().serialize(), "delay_seconds": int(self._delay.total_seconds())}

    @classmethod
    def deserialize(cls, data: dict[str, Any]) -> DelayedDailyTimetable:
        from airflow._shared.timezones.timezone import parse_timezone

        return cls(data["expression"], parse_timezone(data["timezone"]),
                   dt.timedelta(seconds=int(data.get("delay_seconds", 0))))

    def __eq__(self, other: object) -> bool:
        return (isinstance(other, DelayedDailyTimetable) and self._expression == other._expression
                and self._timezone == other._timezone and self._delay == other._delay)

    def __hash__(self) -> int:
        return hash((self._expression, str(self._timezone), self._delay))


def latest_due_day(run_after: dt.datetime, tz: dt.tzinfo, delay: dt.timedelta) -> dt.date:
    """The latest local day D whose run is due at ``run_after``: D+1 00:00 + ``delay`` <= ``run_after``."""
    local = dt.datetime.fromisoformat(run_after.isoformat()).astimezone(tz)
    return (local - delay).date() - dt.timedelta(days=1)


def _refuse(message: str) -> None:
    from airflow.sdk.exceptions import AirflowFailException

    raise AirflowFailException(message)


def _refuse_if_not_due(day: dt.date, latest: dt.date, delay: dt.timedelta, what: str) -> None:
    """Day D is due once D+1 00:00 + ``delay`` has passed (:func:`latest_due_day`); before, refuse in Chinese."""
    if day > latest:
        hours = delay.total_seconds() / 3600
        _refuse(f"{day} 的数据要到 {day + dt.timedelta(days=1)} {hours:g} 时后才齐（当日决定、区县文件），"
                f"现在还不能上报。请到时再触发，或选择 {latest} 及以前的{what}。本次未处理任何数据。")


def run_interval(context: Any, tz: dt.tzinfo, delay: dt.timedelta,
                 now: dt.datetime | None = None) -> tuple[dt.datetime, dt.datetime, str]:
    """The local day [D 00:00, D+1 00:00) in ``tz`` (:data:`creditflow.common.TZ`) a run of a daily reporting
    DAG processes, and why (a log line). ``now`` (default: the clock when the task runs) decides whether a run
    with a data interval is due."""
    dag_run = context.get("dag_run")
    asked = (context.get("params") or {}).get("day") or (getattr(dag_run, "conf", None) or {}).get("day")
    start, end = context.get("data_interval_start"), context.get("data_interval_end")
    if start is not None and end is not None:
        start_local = dt.datetime.fromisoformat(start.isoformat()).astimezone(tz)
        end_local = dt.datetime.fromisoformat(end.isoformat()).astimezone(tz)
        if asked and str(asked) != start_local.date().isoformat():
            _refuse(f"参数 day={asked} 与本次运行的数据区间（{start_local.date()}）不一致：请只指定其中一个——"
                    f"触发时不填逻辑日期（logical date）而填 day，或不填 day。本次未处理任何数据。")
        # A manual trigger may name any logical date; the schedule creates D's run at D+1 06:00 and a backfill
        # of past days is due, so only a day the clock has not reached yet is refused here.
        _refuse_if_not_due(start_local.date(), latest_due_day(now or dt.datetime.now(dt.UTC), tz, delay), delay,
                           "逻辑日期（logical date）")
        return start_local, end_local, f"数据区间 {start_local:%Y-%m-%d %H:%M} – {end_local:%Y-%m-%d %H:%M}"
    run_after = getattr(dag_run, "run_after", None) or dt.datetime.now(dt.UTC)
    latest = latest_due_day(run_after, tz, delay)
    hours = delay.total_seconds() / 3600
    if asked:
        try:
            day = dt.date.fromisoformat(str(asked))
        except ValueError:
            _refuse(f"参数 day 应为日期 YYYY-MM-DD，收到“{asked}”。请改正后重新触发。本次未处理任何数据。")
            raise  # unreachable: _refuse raises
        _refuse_if_not_due(day, latest, delay, "日期")
        why = f"手动触发，未指定逻辑日期（logical date）：处理参数 day 指定的 {day}"
    else:
        day = latest
        why = (f"手动触发，未指定逻辑日期（logical date）也未指定 day：处理最近一个已到运行时间的数据日 {day}"
               f"（次日 {hours:g} 时后运行）")
    begin = dt.datetime(day.year, day.month, day.day, tzinfo=tz)
    return begin, begin + dt.timedelta(days=1), why
