"""Airflow plugin: the pages a bureau clerk and a data engineer use next to the Airflow UI.

Mounted at ``/creditflow`` in the API server and linked from the UI menu (the app, its templates and
its stylesheet are the package ``creditflow_ui`` beside this file):

* ``/creditflow/dashboard`` — 数据看板: per kind and period, trends, the 7-working-day clock, queues, links;
* ``/creditflow/check`` — 区县自查: a district clerk checks a spreadsheet before sending it;
* ``/creditflow/`` — 运行概况: per-run reconciliation counts (extracted, uploaded, quarantined, …);
* ``/creditflow/review`` — 审核: the review queue, one form per record and level (层层审核);
* ``/creditflow/review/audit`` — 审核记录: every accepted decision (who, when, level, source);
* ``/creditflow/quarantine`` — 问题数据: quarantined records with rule and Chinese message;
* ``/creditflow/quality`` — 数据质量报告: the stored GX validation results, rendered without any CDN.

Every page requires an Airflow login; who may decide at which level is ``review_roles.yaml``, decisions
are recorded in the logged-in user's name, and the form carries a CSRF token. ID numbers are masked.
"""

from __future__ import annotations

from airflow.plugins_manager import AirflowPlugin
from creditflow_ui import app


def sgs_due_date(decision_date: str) -> str:
    """Jinja macro: ``{{ macros.creditflow_plugin.sgs_due_date('2026-02-12') }}`` — the date (ISO), or
    待定（…） with the reason while it cannot be computed (:func:`creditflow.core.duedates.sgs_due`)."""
    from creditflow.core.duedates import sgs_due

    return sgs_due(decision_date).label_zh()


class CreditflowPlugin(AirflowPlugin):
    name = "creditflow_plugin"
    fastapi_apps = [{"app": app, "url_prefix": "/creditflow", "name": "creditflow"}]  # noqa: RUF012
    external_views = [  # noqa: RUF012
        {"name": "数据看板", "href": "/creditflow/dashboard", "destination": "nav", "category": "Creditflow",
         "url_route": "creditflow_dashboard"},
        {"name": "双公示运行概况", "href": "/creditflow/", "destination": "nav", "category": "Creditflow",
         "url_route": "creditflow_overview"},
        {"name": "审核", "href": "/creditflow/review", "destination": "nav", "category": "Creditflow",
         "url_route": "creditflow_review"},
        {"name": "问题数据", "href": "/creditflow/quarantine", "destination": "nav", "category": "Creditflow",
         "url_route": "creditflow_quarantine"},
        {"name": "审核记录", "href": "/creditflow/review/audit", "destination": "nav", "category": "Creditflow",
         "url_route": "creditflow_review_audit"},
        {"name": "数据质量报告", "href": "/creditflow/quality", "destination": "nav", "category": "Creditflow",
         "url_route": "creditflow_quality"},
        {"name": "区县自查", "href": "/creditflow/check", "destination": "nav", "category": "Creditflow",
         "url_route": "creditflow_check"},
    ]
    macros = [sgs_due_date]  # noqa: RUF012

