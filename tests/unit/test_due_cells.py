"""What a due-date cell on the dashboard, 审核 and 问题数据 shows (issue #18.2, #16.4)."""

import datetime as dt

from creditflow.core import workdays
from creditflow_ui.clock import due_cell

D = dt.date


def test_a_friday_deadline_on_sunday_is_overdue_and_marked():
    cell = due_cell("2026-12-04", None, D(2026, 12, 6))
    assert cell["overdue"] and cell["state"] == "overdue" and cell["label"] == "已逾期1个工作日"
    assert cell["text"] == "2026-12-04" and cell["left"] == -1
    monday = due_cell("2026-12-07", None, D(2026, 12, 6))  # Monday's deadline on Sunday: Monday remains
    assert not monday["overdue"] and monday["left"] == 1


def test_a_deadline_beyond_the_calendar_shows_pending_with_its_reason():
    year = max(workdays.official_calendar().years) + 1
    # decided 28 December: 7 working days reach into the uncovered year (国办发〔2015〕51号)
    cell = due_cell(None, f"{year - 1}-12-28", D(year - 1, 12, 29))
    assert cell["state"] == "unknown" and not cell["overdue"]
    assert cell["text"] == f"待定（{year}年官方日历未发布）"


def test_a_stored_deadline_wins_over_the_decision_date():
    assert due_cell("2026-12-10", "2026-01-05", D(2026, 12, 10))["state"] == "due_today"
    assert due_cell(None, None, D(2026, 12, 10))["text"] == "待定（无有效的决定日期）"


def test_the_jinja_macro_is_the_same_deadline_and_never_raises():
    """``macros.creditflow_plugin.sgs_due_date``: 7 working days after the decision (国办发〔2015〕51号); 2026-02-12
    reaches over the Spring Festival holiday to 2026-02-28 (a working Saturday). Beyond the calendar it shows
    待定 with its reason, like the pages, instead of failing the task that renders it."""
    from creditflow_airflow.macros import sgs_due_date

    assert sgs_due_date("2026-02-12") == "2026-02-28"
    year = max(workdays.official_calendar().years) + 1
    assert sgs_due_date(f"{year - 1}-12-28") == f"待定（{year}年官方日历未发布）"
