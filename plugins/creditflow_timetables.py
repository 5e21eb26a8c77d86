"""The daily reporting schedule: one local day per run, the run created some hours after the day closes.

``sgs_<kind>`` covers [D 00:00, D+1 00:00) Asia/Shanghai and must not start before D+1 06:00 (late-evening
entries reach the case system overnight; district files that arrived before 06:00 belong to D). A sensor
task waiting until 06:00 cost a task start and a deferral on every run — in a backfill of a year that is a
thousand task starts for nothing. The timetable says it instead: the run of D is *created* at D+1 06:00
(``run_after``), its data interval stays the day. Backfills of past days start at once, as before.

Registered as a plugin (Airflow deserialises custom timetables only from plugins): the scheduler, the
dag-processor and the API server load it from the plugins folder.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from airflow.plugins_manager import AirflowPlugin
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


class CreditflowTimetablesPlugin(AirflowPlugin):
    name = "creditflow_timetables"
    timetables = [DelayedDailyTimetable]  # noqa: RUF012 — AirflowPlugin's own attribute
