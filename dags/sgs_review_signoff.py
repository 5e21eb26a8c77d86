"""
### 层层审核：批量签署（`sgs_review_signoff`）

Batch sign-off of the 双公示 review queue at one level (1 = 经办科室, 2 = 法规科). Who may sign at
each level is configuration: the named users of `include/creditflow/data/rules/review_roles.yaml`
(or the file `CREDITFLOW_REVIEW_ROLES` points to); the approval task of the chosen level is assigned to
exactly them (Airflow refuses anyone else's answer).

1. `summarise` counts what waits at the level (by kind and reason — no personal data) and, for each
   assigned user, how many of those they may approve: never a record they already decided at another
   level (the same person never decides two levels of one record).
2. `choose_level` opens the approval of the chosen level (nothing waits: the run ends here).
3. `approve_level_N` pauses for an assigned user's answer in the Airflow UI (*Required actions*),
   up to 2 days (`response_timeout`).
4. On *Approve*, `sign_off` approves, in the responder's name, exactly the records the summary counted
   for them (fewer only if someone decided some in between; records that arrived after the summary
   wait for the next sign-off). Every approval is an audit row (source: 批量签署 + this run's id),
   visible on *Creditflow → 审核记录*.

Near duplicates are never batch-approved: decide them one by one on the *Creditflow → 审核* page.
The reporting DAGs never wait for this one: approved records go out with their next daily run (the next
day 06:00) — or now: a reviewer presses **立即上报** on *Creditflow → 审核* (per kind). That queues an
ordinary manual run of `sgs_<kind>` without a logical date (it processes the latest day that is due, under
the same interval and ledger locks, and uploads every record whose levels are all approved); who asked is
kept on the run and in Airflow's audit log, and listed on *Creditflow → 审核记录*.

Trigger it manually (level as a parameter). Owner: 信用数据组.
"""

from __future__ import annotations

import datetime as dt
import logging

import pendulum
from airflow.providers.standard.operators.hitl import ApprovalOperator
from airflow.sdk import Param, dag, task
from creditflow.common import TIMEZONE_NAME
from creditflow.reporting.reviewers import load_roster
from creditflow_airflow.notifiers import TIMEOUTS, dag_failure_callbacks, default_task_args

DEFAULT_ARGS = default_task_args(retries=1, retry_delay=dt.timedelta(seconds=30), execution_timeout=TIMEOUTS["ledger"])

# Parse time: who the approval of each level is assigned to (data/rules/review_roles.yaml).
ROSTER = load_roster()
LEVELS = sorted(ROSTER.levels)
log = logging.getLogger("creditflow.review")


@dag(
    dag_id="sgs_review_signoff",
    schedule=None,
    start_date=pendulum.datetime(2026, 11, 1, tz=TIMEZONE_NAME),
    catchup=False,
    default_args=DEFAULT_ARGS,
    on_failure_callback=dag_failure_callbacks(),
    tags=["双公示", "review", "impact:reporting"],
    doc_md=__doc__,
    params={"level": Param(LEVELS[0], type="integer", enum=LEVELS,
                           description="审核层级：" + "，".join(f"{lv} {ROSTER.name(lv)}" for lv in LEVELS))},
)
def sgs_review_signoff() -> None:
    @task
    def summarise(**context) -> dict:  # type: ignore[no-untyped-def]
        from creditflow.reporting import review
        from creditflow_airflow.hooks import warehouse_engine

        return review.sign_off_plan(warehouse_engine(), int(context["params"]["level"]))

    @task.branch
    def choose_level(plan: dict, **context) -> list[str]:  # type: ignore[no-untyped-def]
        if not plan["keys"]:
            log.info("第%s级没有可批量签署的记录：不等待审批。", plan["level"])
            return []
        return [f"approve_level_{int(context['params']['level'])}"]

    approvals = [
        ApprovalOperator(
            task_id=f"approve_level_{level}",
            subject=f"双公示批量审核签署（第{level}级 {ROSTER.name(level)}）",
            body="{{ ti.xcom_pull(task_ids='summarise')['body'] }}",
            assigned_users=ROSTER.hitl_users(level),
            response_timeout=dt.timedelta(days=2),
            execution_timeout=None,  # HITL: response_timeout bounds the wait; an execution_timeout would race it
        )
        for level in LEVELS
    ]

    @task(trigger_rule="none_failed_min_one_success")
    def sign_off(**context) -> int:  # type: ignore[no-untyped-def]
        from creditflow.reporting import review
        from creditflow_airflow.hooks import warehouse_engine

        level = int(context["params"]["level"])
        ti = context["ti"]
        plan = ti.xcom_pull(task_ids="summarise")
        answer = ti.xcom_pull(task_ids=f"approve_level_{level}") or {}
        user = answer.get("responded_by_user") or {}
        reviewer = str(user.get("id") or "").strip()
        if not reviewer:
            raise ValueError("审批结果中没有审批人，无法以其名义签署")
        n = review.sign_off(warehouse_engine(), level, reviewer, only=plan["keys"], source_ref=context["run_id"])
        log.info("%s 批量签署第%s级：批准 %d 条（摘要中为其计数 %d 条）。", reviewer, level, n,
                 plan["by_user"].get(reviewer, 0))
        return n

    plan = summarise()
    choose_level(plan) >> approvals >> sign_off()


sgs_review_signoff()
