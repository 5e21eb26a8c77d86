"""
### 年度监督检查计划（`inspection_plan`）

Draws up next year's 安全生产年度监督检查计划 the way 安监总政法〔2017〕150号 and 粤应急规〔2021〕4号 /
〔2025〕4号 describe it, and checks its own arithmetic: workday table (法定工作日 × 执法人员 − 其他执法 −
非执法 = 监督检查工作日, split 重点/一般), risk score per enterprise term by term, the key list with reasons
(at least once a year; listed parties quarterly), the 双随机 draw of general units (seeded; pool, seed and
result recorded; good credit drawn less often than bad-credit twins), and a schedule to months, teams
and working days solved with OR-Tools CP-SAT (objective, bound and gap reported).

| step | what it does |
|---|---|
| `check_calendar` | the plan year's official working-day schedule must be in the calendar data. In November it only **warns** (log) while it is missing; from December, and in any manual or backfill run, a missing year **fails** the run with the file to add (`include/creditflow/data/calendar/YYYY.yaml`) — a plan is never made on a guessed calendar |
| `due` | scheduled December runs skip once the year's plan exists; manual and backfill runs always plan |
| `make_plan` | reads the case system (`case_db`) and the serious-dishonesty list from the warehouse (`creditflow_db`, the credit capability's cases: listed last year → key unit, still listed → quarterly), builds and self-checks the plan, writes `plans/<year>/` of the creditflow storage (`var/plans/<year>/` in the demo; XLSX, PDF, plan.json with the diff against last year) |

**Schedule**: every day at 09:00 in November and December (Asia/Shanghai) for the next year; the first
December run with a calendar makes the plan, later runs skip.
**On demand**: *Trigger* with the form — `year` (any year with a calendar), `seed` (default: the year),
`as_of` (read records before this day; default 1 January of the plan year). Re-running a year replaces
its plan; the same seed and data give the same XLSX byte for byte.
**Backfill**: `scripts/airflow backfill create --dag-id inspection_plan --from-date 2025-12-01 --to-date 2025-12-02`
plans 2026 (the year after the run's date): one run, 1 December 09:00 (the range must contain a 09:00 of
November or December — `--to-date 2025-12-01` alone holds none: "No runs to create").

**When it fails**: "no official working-day schedule for YYYY" → add the State Council's schedule as
`data/calendar/YYYY.yaml` and clear the task. "工作日测算表不平衡" → fix `data/planning/workload.yaml`.
A plan with a shortfall does **not** fail: the unscheduled mandatory inspections and the missing
inspector-days are listed in the plan (sheet 未安排, PDF summary, the task log) — raise them with the
leadership.

Owner: 信用数据组. Changelog: 0.1 — first version (issue 10). 0.2 — statutory floors (issue 16): key units by
the assessed risk level, the three-year cycle over the whole history, the list read from the warehouse.
"""

from __future__ import annotations

import datetime as dt
import logging

import pendulum
from airflow.sdk import CronTriggerTimetable, Param, dag, task
from creditflow.common import TIMEZONE_NAME
from creditflow_airflow.notifiers import TIMEOUTS, dag_failure_callbacks, default_task_args

PLAN_MONTH = 12  # scheduled runs plan from December; November runs only warn
DEFAULT_ARGS = default_task_args(retries=1, retry_delay=dt.timedelta(minutes=5), execution_timeout=TIMEOUTS["step"])
log = logging.getLogger("creditflow.plan")


def _target(context: dict) -> dict:  # type: ignore[type-arg]
    """Plan year, seed, as_of and whether this is a scheduled run (from the run, never from the clock)."""
    params = context["params"]
    run_type = getattr(context.get("dag_run"), "run_type", "") or ""
    scheduled = str(getattr(run_type, "value", run_type)).lower().endswith("scheduled")
    logical = context.get("logical_date")
    day = pendulum.instance(logical).in_timezone(TIMEZONE_NAME).date() if logical else None
    if params.get("year"):
        year = int(params["year"])
    elif day is not None:
        year = day.year + 1
    else:
        raise ValueError("手动运行请在表单中填写 year（计划年度）")
    seed = int(params["seed"]) if params.get("seed") is not None else year
    as_of = params.get("as_of") or None
    return {"year": year, "seed": seed, "as_of": as_of, "scheduled": scheduled and not params.get("year"),
            "run_day": day.isoformat() if day else None}


@dag(
    dag_id="inspection_plan",
    schedule=CronTriggerTimetable("0 9 * 11,12 *", timezone=TIMEZONE_NAME),
    start_date=pendulum.datetime(2021, 11, 1, tz=TIMEZONE_NAME),  # early, so backfills of past years create tasks
    catchup=False,
    max_active_runs=1,
    default_args=DEFAULT_ARGS,
    on_failure_callback=dag_failure_callbacks(),
    dagrun_timeout=dt.timedelta(hours=2),
    tags=["inspection_plan", "impact:planning"],
    doc_md=__doc__,
    params={
        "year": Param(None, type=["null", "integer"], minimum=2004, maximum=2100, title="计划年度",
                      description="空 = 运行日期的下一年"),
        "seed": Param(None, type=["null", "integer"], minimum=0, title="随机种子",
                      description="双随机抽取的种子；空 = 计划年度"),
        "as_of": Param(None, type=["null", "string"], format="date", title="数据截止日",
                       description="只读取此日之前的记录；空 = 计划年度1月1日"),
    },
)
def inspection_plan() -> None:
    @task(execution_timeout=TIMEOUTS["quick"])
    def check_calendar(**context) -> dict:  # type: ignore[no-untyped-def]
        from creditflow.core.workdays import official_calendar
        from creditflow.planning import calendar_action, calendar_warning, require_calendar

        target = _target(context)
        year = target["year"]
        run_day = dt.date.fromisoformat(target["run_day"]) if target["run_day"] else None
        action = calendar_action(year, year in official_calendar().years, target["scheduled"], run_day, PLAN_MONTH)
        if action == "warn":
            log.warning("%s", calendar_warning(run_day, year) if run_day else f"{year}年官方工作日安排尚未录入")
            return {**target, "plan": False}
        if action == "fail":
            from airflow.sdk.exceptions import AirflowFailException
            from creditflow.core.workdays import CalendarNotCovered

            try:
                require_calendar(year)
            except CalendarNotCovered as exc:  # no retry: only adding the year's file helps; alerts once
                raise AirflowFailException(f"{year}年度监督检查计划无法编制：{exc}") from exc
        return {**target, "plan": True}

    @task.short_circuit(execution_timeout=TIMEOUTS["quick"])
    def due(target: dict) -> bool:  # type: ignore[type-arg]
        from creditflow.planning.store import read_plan
        from creditflow_airflow.hooks import storage

        if not target["plan"]:
            return False
        if target["scheduled"] and read_plan(storage("plans").child(str(target["year"]))) is not None:
            log.info("%s年度计划已生成，跳过（手动运行可重新生成）", target["year"])
            return False
        return True

    @task(execution_timeout=TIMEOUTS["step"])
    def make_plan(target: dict) -> dict:  # type: ignore[type-arg]
        from creditflow.planning import build_plan, load_case_db
        from creditflow.planning.dishonesty import WarehouseDishonestyList
        from creditflow.planning.store import previous_plan, save_plan
        from creditflow_airflow.hooks import case_db_engine, storage, warehouse_engine

        year = target["year"]
        out = storage("plans").child(str(year))  # var/plans/<year>/ in the demo, object storage in production
        as_of = dt.date.fromisoformat(target["as_of"]) if target["as_of"] else None
        # The serious-dishonesty list from the warehouse: listed last year → key, listed now → raised frequency.
        data = load_case_db(case_db_engine(), year, as_of=as_of, list_source=WarehouseDishonestyList(warehouse_engine()))
        plan = build_plan(year, data, seed=target["seed"], previous=previous_plan(out, year))
        paths = save_plan(plan, out)
        summary = plan.summary()
        if summary["mandatory_unscheduled"]:
            units = plan.shortfall_units()
            log.warning("%s年度计划：必检未安排%s户次，缺口%s人·日，涉及%s家（见计划“未安排”表）：%s", year,
                        summary["mandatory_unscheduled"], summary["shortfall_inspector_days"], len(units),
                        "、".join(u["ent_id"] for u in units[:50]) + ("……" if len(units) > 50 else ""))
        log.info("严重失信主体名单：%s；名单内%s家", data.list_source, len({e.uscc for e in data.listed}))
        log.info("计划已保存：%s", ", ".join(str(p) for p in paths.values()))
        return summary

    target = check_calendar()
    due(target) >> make_plan(target)


inspection_plan()
