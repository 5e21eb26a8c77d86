"""Annual work-safety supervision-inspection plan (年度监督检查计划): workday table, risk, key list,
双随机 draw, schedule (OR-Tools CP-SAT), and the plan documents (XLSX, PDF, plan.json).

Entry points: :func:`build_plan` (compute and self-check), :func:`save_plan` (write a year's documents to
a directory), :func:`list_plans` (what the plugin pages list), ``creditflow plan`` (:mod:`.cli`).
"""

from creditflow.planning.inputs import (
    CsvDishonestyList,
    DishonestyListSource,
    NoDishonestyList,
    PlanInputs,
    load_case_db,
)
from creditflow.planning.params import PlanDataError, load_parameters
from creditflow.planning.plan import (
    Plan,
    PlanCheckError,
    build_plan,
    calendar_action,
    calendar_warning,
    require_calendar,
)

__all__ = [
    "CsvDishonestyList",
    "DishonestyListSource",
    "NoDishonestyList",
    "Plan",
    "PlanCheckError",
    "PlanDataError",
    "PlanInputs",
    "build_plan",
    "calendar_action",
    "calendar_warning",
    "load_case_db",
    "load_parameters",
    "require_calendar",
]
