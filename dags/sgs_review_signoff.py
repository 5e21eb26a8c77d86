"""
### 层层审核：批量签署（`sgs_review_signoff`）

Batch sign-off of the 双公示 review queue at one level (1 = 经办科室, 2 = 法规科). The first task
summarises what waits (counts by kind and reason — no personal data); the approval task pauses for a
reviewer's decision in the Airflow UI (Required actions); on *Approve*, every pending review whose next
level is the chosen one is approved in the reviewer's name. Near duplicates are never batch-approved:
decide them one by one on the *Creditflow → 审核* page.

The reporting DAGs never wait for this one: approved records go out with their next daily run.

Trigger it manually (level as a parameter). Owner: 信用数据组.
"""

from __future__ import annotations

import datetime as dt

import pendulum
from airflow.providers.standard.operators.hitl import ApprovalOperator
from airflow.sdk import Param, dag, task

DEFAULT_ARGS = {"owner": "creditflow", "retries": 1, "retry_delay": dt.timedelta(seconds=30)}


@dag(
    dag_id="sgs_review_signoff",
    schedule=None,
    start_date=pendulum.datetime(2026, 11, 1, tz="Asia/Shanghai"),
    catchup=False,
    default_args=DEFAULT_ARGS,
    tags=["双公示", "review", "impact:reporting"],
    doc_md=__doc__,
    params={"level": Param(1, type="integer", enum=[1, 2], description="审核层级：1 经办科室，2 法规科")},
)
def sgs_review_signoff() -> None:
    @task
    def summarise(**context) -> str:  # type: ignore[no-untyped-def]
        from creditflow.reporting import review
        from creditflow_hooks import warehouse_engine

        return review.summary_markdown(warehouse_engine(), int(context["params"]["level"]))

    summary = summarise()
    approve = ApprovalOperator(
        task_id="approve",
        subject="双公示批量审核签署（第{{ params.level }}级）",
        body="{{ ti.xcom_pull(task_ids='summarise') }}",
        response_timeout=dt.timedelta(days=2),
    )

    @task
    def sign_off(decision: dict, **context) -> int:  # type: ignore[no-untyped-def]
        from creditflow.reporting import review
        from creditflow_hooks import warehouse_engine

        user = decision.get("responded_by_user") or {}
        reviewer = str(user.get("name") or user.get("id") or "unknown")
        return review.sign_off(warehouse_engine(), int(context["params"]["level"]), reviewer)

    summary >> approve
    sign_off(approve.output)


sgs_review_signoff()
