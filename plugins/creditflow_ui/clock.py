"""The pages' clock and their due-date cells.

``today`` is a FastAPI dependency (Beijing date): every page that judges a deadline takes it from here, and a
test overrides it (``creditflow_ui.app.dependency_overrides[clock.today]``) to see the pages on a Sunday.
``due_cell`` is what a due-date cell shows: the date (or 待定（2027年官方日历未发布）), its status on
:func:`creditflow.core.duedates.due_status` (已逾期N个工作日 / 今日到期 / 剩余N个工作日) and whether it is
overdue — the one rule on the dashboard, 审核 and 问题数据.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from creditflow.common import TZ

DECISION_DATE = {"penalty": "CF_JDRQ", "license": "XK_JDRQ", "coercion": "QZ_JDRQ"}


def today() -> dt.date:
    return dt.datetime.now(TZ).date()


def due_cell(due_date: str | None, decision_date: Any, day: dt.date) -> dict[str, Any]:
    """A stored 7-working-day due date, or (none stored: beyond the calendar when it was computed) the
    deadline of the decision date worked out now — it appears as soon as the year's calendar is added."""
    from creditflow.core.duedates import as_due, due_status, sgs_due

    due = as_due(due_date) if due_date else sgs_due(decision_date)
    status = due_status(due, day)
    return {"text": due.label_zh(), "state": status.state, "label": status.label_zh(), "left": status.left,
            "overdue": status.overdue}
