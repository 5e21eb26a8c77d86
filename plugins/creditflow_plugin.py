"""Airflow plugin: registers what Airflow can only take from a plugin, and nothing else is defined here.

* the web app ``creditflow_ui`` (the package beside this file) at ``/creditflow``, and the old ``/credit``
  prefix redirected into it; one menu entry per page;
* a root middleware that masks ID numbers in what the API server's access log records (``creditflow_ui.accesslog``),
  and one that rate-limits sign-in attempts at ``POST /auth/token`` as the login form is (``creditflow_ui.loginlimit``);
* the timetable ``DelayedDailyTimetable`` (Airflow deserialises custom timetables only from plugins) and the
  macro ``{{ macros.creditflow_plugin.sgs_due_date(…) }}`` — both defined in ``creditflow_airflow``.

Why nothing else: Airflow's plugin loader executes every ``.py`` file of the plugins folder as a new top-level
module. A module the DAG files also import (hooks, notifiers, timetables …) would then exist twice — two copies
of each class and cache. Those live in ``include/creditflow_airflow/`` on the ordinary import path; this file
only imports them (``tests/dags/test_single_import.py`` checks that no module is loaded under two names).

Every page requires an Airflow login; who may decide is ``review_roles.yaml`` / ``data/credit/roles.yaml``.
"""

from __future__ import annotations

from airflow.plugins_manager import AirflowPlugin
from creditflow_airflow.macros import MACROS
from creditflow_airflow.timetables import DelayedDailyTimetable
from creditflow_ui import app
from creditflow_ui.accesslog import MaskIdsInAccessLog
from creditflow_ui.legacy import redirect
from creditflow_ui.loginlimit import TokenRateLimit

#: (menu label, path under /creditflow, url_route): the one menu, every page of the app.
PAGES = (
    ("数据看板", "dashboard", "creditflow_dashboard"),
    ("双公示运行概况", "", "creditflow_overview"),
    ("审核", "review", "creditflow_review"),
    ("问题数据", "quarantine", "creditflow_quarantine"),
    ("审核记录", "review/audit", "creditflow_review_audit"),
    ("数据质量报告", "quality", "creditflow_quality"),
    ("区县自查", "check", "creditflow_check"),
    ("信用管理（严重失信名单）", "credit/", "creditflow_credit_cases"),
    ("信用修复", "credit/penalties", "creditflow_credit_penalties"),
    ("诚信审核", "credit/integrity", "creditflow_credit_integrity"),
    ("处罚前信用影响评估", "credit/impact", "creditflow_credit_impact"),
)


class CreditflowPlugin(AirflowPlugin):
    name = "creditflow_plugin"
    fastapi_apps = [  # noqa: RUF012 — AirflowPlugin's own attributes
        {"app": app, "url_prefix": "/creditflow", "name": "creditflow"},
        {"app": redirect, "url_prefix": "/credit", "name": "creditflow_credit_moved"},
    ]
    # ID numbers in request paths and query strings masked in the API server's access log (accesslog.py)
    fastapi_root_middlewares = [  # noqa: RUF012
        {"middleware": MaskIdsInAccessLog, "args": [], "kwargs": {}, "name": "creditflow_mask_access_log"},
        # sign-in attempts through the API (POST /auth/token): Airflow limits only the login form (loginlimit.py)
        {"middleware": TokenRateLimit, "args": [], "kwargs": {}, "name": "creditflow_token_rate_limit"},
    ]
    external_views = [  # noqa: RUF012
        {"name": label, "href": f"/creditflow/{path}", "destination": "nav", "category": "Creditflow",
         "url_route": route} for label, path, route in PAGES
    ]
    timetables = [DelayedDailyTimetable]  # noqa: RUF012
    macros = MACROS
