"""The pages' clock and their due-date cells.

``today`` is a FastAPI dependency (Beijing date): every page that judges a deadline takes it from here, and a
test overrides it (``creditflow_ui.app.dependency_overrides[clock.today]``) to see the pages on a Sunday.
``due_cell`` is what a due-date cell shows: the date (or 待定（2027年官方日历未发布）), its status on
:func:`creditflow.core.duedates.due_status` (已逾期N个工作日 / 今日到期 / 剩余N个工作日) and whether it is
overdue — the one rule on the dashboard, 审核, 问题数据 and the credit pages (:func:`cell`).
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from creditflow.common import TZ


def today() -> dt.date:
    return dt.datetime.now(TZ).date()


def due_cell(due_date: str | None, decision_date: Any, day: dt.date) -> dict[str, Any]:
    """A stored 7-working-day due date, or (none stored: beyond the calendar when it was computed) the
    deadline of the decision date worked out now — it appears as soon as the year's calendar is added."""
    from creditflow.core.duedates import as_due, sgs_due

    return cell(as_due(due_date) if due_date else sgs_due(decision_date), day)


def cell(due: Any, day: dt.date, done: bool = False, lapses: bool = False) -> dict[str, Any]:
    """The cell of any deadline (:class:`creditflow.core.duedates.Due`) on ``day`` — also the credit pages'
    (公示时限, 陈述申辩期, 复核时限, 申请办结期限). ``done``: the duty was carried out, no status any more.
    ``lapses``: a period granted to the party (陈述申辩期), which ends (已届满) rather than falls overdue."""
    from creditflow.core.duedates import due_status

    status = due_status(due, day)
    out = {"text": due.label_zh(), "state": status.state, "label": status.label_zh(), "left": status.left,
           "overdue": status.overdue}
    if done:
        out.update(state="done", label="", overdue=False)
    elif lapses and status.overdue:
        out.update(state="ended", label="已届满", overdue=False)
    return out
