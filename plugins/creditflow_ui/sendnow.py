"""立即上报: a reviewer sends the records approved on 审核 now instead of with tomorrow's 06:00 run.

There is no second sending path: the request creates an ordinary manual run of ``sgs_<kind>`` (no logical
date — the DAG processes the latest day that is due, ``creditflow_airflow.timetables.run_interval``), which takes the
interval lock and the ledger lock like every run, carries the reviewed records over and uploads those whose
levels are all approved. Only a user the review roster gives a level may ask. Who asked is kept twice: the run
itself (``triggering_user_name``, conf ``send_now`` / ``requested_by``) and an entry of Airflow's audit log
(event ``creditflow.send_now``); :func:`requests` lists them on 审核记录.

While a run of the kind is queued, a request is refused: that run has not started and will carry over every
approval made until its 决定 (decide) step. While one is running it may already be past its decide step — the
approvals made since go out with the next run — so the next run is queued (``max_active_runs=1``: it starts
when the running one ends) and the page says so (:func:`trigger` returns ``behind=True``).

Runs inside the API server (the plugin's process), so it uses Airflow's own metadata session and
``trigger_dag`` — the function behind the REST API's trigger.
"""

from __future__ import annotations

import json
from typing import Any

EVENT = "creditflow.send_now"


class Refused(RuntimeError):
    """The request cannot be carried out now (Chinese message for the page)."""


def trigger(kind: str, who: str) -> tuple[str, bool]:
    """Queue the run of ``sgs_<kind>`` that sends the approved records now: ``(run id, behind)``, ``behind``
    when a run was already running (the new one starts after it)."""
    from airflow.api.common.trigger_dag import trigger_dag
    from airflow.models.dag import DagModel
    from airflow.models.dagrun import DagRun
    from airflow.models.log import Log
    from airflow.utils.session import create_session
    from airflow.utils.state import DagRunState
    from airflow.utils.types import DagRunTriggeredByType
    from sqlalchemy import func, select

    dag_id = f"sgs_{kind}"
    with create_session() as session:
        model = DagModel.get_current(dag_id, session=session)
        if model is None:
            raise Refused(f"Airflow 尚未加载 {dag_id}，无法立即上报；请联系管理员。")
        if model.is_paused:
            raise Refused(f"{dag_id} 已暂停，立即上报的运行不会开始；请管理员在 Airflow 中启用该 DAG 后再试。")
        def count(state: DagRunState) -> int:
            return int(session.scalar(select(func.count()).select_from(DagRun).where(
                DagRun.dag_id == dag_id, DagRun.state == state)) or 0)

        if count(DagRunState.QUEUED):
            raise Refused(f"{dag_id} 已有一次运行在排队、尚未开始：已审核通过的记录会随它上报，无需再次请求。")
        behind = bool(count(DagRunState.RUNNING))
        run = trigger_dag(dag_id, triggered_by=DagRunTriggeredByType.UI, triggering_user_name=who,
                          conf={"send_now": True, "requested_by": who}, logical_date=None,
                          note=f"{who} 在审核页面请求立即上报已审核通过的记录", session=session)
        if run is None:  # pragma: no cover — trigger_dag returns the run or raises
            raise Refused(f"未能创建 {dag_id} 的运行，请稍后重试。")
        session.add(Log(event=EVENT, owner=who, dag_id=dag_id, run_id=run.run_id,
                        extra=json.dumps({"kind": kind, "requested_by": who}, ensure_ascii=False)))
        return str(run.run_id), behind


def requests(limit: int = 100) -> list[dict[str, Any]]:
    """The latest 立即上报 requests: who, when, kind, run and its state (Airflow's audit log and runs)."""
    from airflow.models.dagrun import DagRun
    from airflow.models.log import Log
    from airflow.utils.session import create_session
    from sqlalchemy import select

    out = []
    with create_session() as session:
        logs = session.scalars(select(Log).where(Log.event == EVENT).order_by(Log.dttm.desc()).limit(limit)).all()
        runs = {r.run_id: r for r in session.scalars(select(DagRun).where(
            DagRun.run_id.in_([x.run_id for x in logs if x.run_id]))).all()} if logs else {}
        for entry in logs:
            run = runs.get(entry.run_id or "")
            state = str(getattr(run, "state", "") or "")
            out.append({"at": entry.dttm.isoformat() if entry.dttm else "", "who": entry.owner or "—",
                        "dag_id": entry.dag_id, "kind": str(entry.dag_id or "").removeprefix("sgs_"),
                        "run_id": entry.run_id, "state": STATES.get(state, state or "—")})
    return out


STATES = {"queued": "排队中", "running": "运行中", "success": "已完成", "failed": "失败"}
