"""Has the pipeline settled for a period? The report DAGs wait on this (a check of the ledger and the
daily runs' reconciliation — not on the pipeline's Assets) before they compute anything.

Settled means:

1. the cut-off has passed (figures as of a future moment would change when recomputed);
2. every daily run of every kind over the period's days — and the days after it whose runs started before
   the cut-off (a day's run starts the next morning) — has written its reconciliation;
3. no upload of a decision of the period is in flight in the ledger (``pending`` or ``sent``).

A period whose daily runs never existed (the pipeline started later) never settles: trigger the report
by hand with ``wait_for_pipeline`` off.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import sqlalchemy as sa

from creditflow.common import DAILY_RUN_DELAY, KIND_LABELS, KINDS, TZ
from creditflow.core import ledger
from creditflow.core import warehouse as wh
from creditflow.feedback.periods import Period


def days_needed(period: Period, cut_off: dt.datetime) -> list[dt.date]:
    """The data days whose runs the report reads: the period's days and later days whose run (the next
    morning) started before the cut-off."""
    days, day = [], period.start
    while dt.datetime.combine(day + dt.timedelta(days=1), dt.time(), TZ) + DAILY_RUN_DELAY <= cut_off \
            or day < period.end:
        days.append(day)
        day += dt.timedelta(days=1)
    return days


def pipeline_settled(engine: sa.Engine, period: Period, cut_off: dt.datetime,
                     kinds: tuple[str, ...] = KINDS, now: dt.datetime | None = None) -> tuple[bool, list[str]]:
    """(settled, Chinese reasons why not)."""
    now = now or dt.datetime.now(TZ)
    reasons: list[str] = []
    if now < cut_off:
        reasons.append(f"尚未到数据截止时点 {cut_off.isoformat()}")
    days = days_needed(period, cut_off)
    s, L = wh.run_summary, wh.ledger
    with engine.connect() as conn:
        done = {(k, str(i)[:10]) for k, i, ok in conn.execute(
            sa.select(s.c.kind, s.c.interval_start, s.c.reconciled).where(
                wh.latest_summaries(), s.c.kind.in_(kinds), s.c.interval_start >= days[0].isoformat(),
                s.c.interval_start < (days[-1] + dt.timedelta(days=1)).isoformat())) if ok}
        inflight = conn.execute(sa.select(L.c.kind, sa.func.count()).where(
            L.c.kind.in_(kinds), L.c.state.in_(ledger.IN_FLIGHT), L.c.decision_date < period.end.isoformat())
            .group_by(L.c.kind)).all()
    for kind in kinds:
        missing = [d for d in days if (kind, d.isoformat()) not in done]
        if missing:
            reasons.append(f"{KIND_LABELS.get(kind, kind)}：{len(missing)}天的日常上报运行尚未完成对账"
                           f"（最早 {missing[0].isoformat()}）")
    for kind, n in inflight:
        reasons.append(f"{KIND_LABELS.get(kind, kind)}：{n}条上报操作仍在途（待发送或待平台回执）")
    return not reasons, reasons


def describe(result: tuple[bool, list[str]]) -> dict[str, Any]:
    return {"settled": result[0], "reasons": result[1]}
