"""The dashboard's labels: Chinese first, English when the Airflow UI is set to another language.

The Airflow 3 UI keeps its language per browser (``localStorage.i18nextLng``, else the browser's own);
the plugin page learns it from ``?lang=`` (``static/dashboard.js`` adds it when the UI's setting differs
from what the page shows) or, on a first visit, from the browser's ``Accept-Language``.
"""

from __future__ import annotations

from typing import Any

LANGUAGES = ("zh", "en")

LABELS: dict[str, dict[str, str]] = {
    "zh": {
        "title": "数据看板", "lang": "zh",
        "all_kinds": "全部类别", "period": "期间", "day": "按日", "week": "按周", "month": "按月",
        "as_of": "截至", "kind": "类别",
        "extracted": "抽取", "uploaded": "已上报", "accepted": "平台已接收", "quarantined": "问题数据",
        "awaiting_review": "待审核", "late": "逾期", "due_soon": "临期",
        "h_totals": "概览", "h_periods": "按类别和期间", "h_trend": "趋势", "h_clock": "7个工作日时钟",
        "h_quarantine": "问题数据队列：改什么、谁来改", "h_review": "审核队列", "h_runs": "每次运行的对账",
        "h_links": "报告与文件", "h_credit": "严重失信名单与信用修复",
        "hint_periods": "抽取、已上报、问题数据（该次运行新隔离的）为期间内各次运行之和；平台已接收为这些运行收到的"
                        "接收回执数；待审核、临期为期间内最后一次运行时的状态；逾期为期间内被标记逾期的记录数（去重）。"
                        "各次运行取其最新一次对账（重跑保留原来的对账，见“运行概况”）。概览中的已上报为共享平台现有的记录数"
                        "（台账中平台已接收的，含已撤销公示的），不随重跑改变；"
                        "后四项是今天的状态：仍在隔离区、仍待审核的记录，其中已逾期和临期（剩 0–2 个工作日）的。",
        "open_quarantined": "现有问题数据", "open_review": "现待审核", "open_overdue": "已逾期未报",
        "open_due_soon": "临期未报",
        "hint_clock": "尚未上报的记录（问题数据、待审核）距离“作出决定之日起7个工作日”上报期限还剩几个工作日，"
                      "按今天计算；临期 = 剩余 0–2 个工作日。",
        "hint_quarantine": "在源系统中修正后，下一次运行会自动重新校验并上报。",
        "period_col": "期间", "clock_overdue": "已逾期", "clock_d0": "今日到期", "clock_d1": "剩1天",
        "clock_d2": "剩2天", "clock_d3_7": "剩3–7天", "clock_unknown": "无法计算",
        "record": "记录", "doc_no": "文号", "party": "当事人", "department": "承办科室",
        "field": "字段", "rule": "规则", "what": "需修正的问题", "who": "由谁修正",
        "due": "截止日期", "left": "剩余工作日", "reason": "审核原因", "op": "操作", "count": "条数",
        "earliest_due": "最早截止", "go_review": "去审核", "go_quarantine": "全部问题数据",
        "date": "数据日期", "reconciled": "对账", "run": "Airflow 运行", "open_run": "查看运行",
        "quality": "数据质量报告", "reports": "报告", "plans": "检查计划", "notices": "告知书与公告",
        "no_folder": "（尚未生成）", "empty": "暂无", "no_runs": "尚无运行记录。",
        "cases": "严重失信名单案件（按状态）", "requests": "信用修复与提前移出申请",
        "chart_trend": "各期间的抽取、上报、平台接收、问题数据与待审核",
        "chart_clock": "尚未上报记录的剩余工作日", "chart_kinds": "最近一期各类别的上报、问题数据与待审核",
        "more": "仅显示前 {n} 条", "reason_natural_person": "自然人", "reason_near_duplicate": "疑似重复",
        "reason_correction": "更正", "reason_withdrawal": "撤销",
        "op_create": "新增", "op_correct": "更正", "op_withdraw": "撤销", "self_check": "区县自查（上传表格预检）",
    },
    "en": {
        "title": "Credit data dashboard", "lang": "en",
        "all_kinds": "All kinds", "period": "Period", "day": "Daily", "week": "Weekly", "month": "Monthly",
        "as_of": "As of", "kind": "Kind",
        "extracted": "Extracted", "uploaded": "Uploaded", "accepted": "Accepted", "quarantined": "Quarantined",
        "awaiting_review": "Awaiting review", "late": "Late", "due_soon": "Due soon",
        "h_totals": "Overview", "h_periods": "By kind and period", "h_trend": "Trends",
        "h_clock": "The 7-working-day clock", "h_quarantine": "Quarantine: what to fix, and who",
        "h_review": "Review queue", "h_runs": "Reconciliation per run", "h_links": "Reports and files",
        "h_credit": "Serious-dishonesty list and credit repair",
        "hint_periods": "Extracted, uploaded and quarantined (by the run) are summed over the period's runs; "
                        "accepted counts the platform's acceptances those runs received; awaiting review and due soon "
                        "are the state at the period's last run; late counts distinct records marked late in the "
                        "period; each run counts with its latest reconciliation. The overview's uploaded is what the "
                        "platform holds (ledger records it accepted, withdrawn ones included), whatever a re-run "
                        "says. The overview's last four numbers are today's: records still quarantined or "
                        "awaiting review, and those overdue or due soon (0–2 working days left).",
        "open_quarantined": "Quarantined now", "open_review": "Awaiting review now", "open_overdue": "Overdue now",
        "open_due_soon": "Due soon now",
        "hint_clock": "Records not yet published (quarantined, awaiting review): working days left until the "
                      "deadline of 7 working days after the decision, counted from today; due soon = 0–2 left.",
        "hint_quarantine": "Once fixed in the source system, the next run validates and uploads the record.",
        "period_col": "Period", "clock_overdue": "Overdue", "clock_d0": "Due today", "clock_d1": "1 day",
        "clock_d2": "2 days", "clock_d3_7": "3–7 days", "clock_unknown": "Unknown",
        "record": "Record", "doc_no": "Document no.", "party": "Party", "department": "Department",
        "field": "Field", "rule": "Rule", "what": "What to fix", "who": "Who fixes it",
        "due": "Due", "left": "Working days left", "reason": "Reason", "op": "Operation", "count": "Records",
        "earliest_due": "Earliest due", "go_review": "Review", "go_quarantine": "All quarantined records",
        "date": "Data day", "reconciled": "Reconciled", "run": "Airflow run", "open_run": "Open run",
        "quality": "Data quality report", "reports": "Reports", "plans": "Inspection plans",
        "notices": "Notices", "no_folder": "(none yet)", "empty": "None", "no_runs": "No runs yet.",
        "cases": "Serious-dishonesty cases by state", "requests": "Repair and early-removal requests",
        "chart_trend": "Extracted, uploaded, accepted, quarantined and awaiting review per period",
        "chart_clock": "Working days left for records not yet published",
        "chart_kinds": "Latest period per kind: uploaded, quarantined, awaiting review",
        "more": "first {n} shown", "reason_natural_person": "natural person",
        "reason_near_duplicate": "near duplicate", "reason_correction": "correction",
        "reason_withdrawal": "withdrawal", "op_create": "create", "op_correct": "correct", "op_withdraw": "withdraw",
        "self_check": "District self-check (upload a spreadsheet)",
    },
}


def language_of(requested: str, accept_language: str) -> str:
    """``zh`` or ``en``: the explicit choice, else the browser's first preference (Chinese by default)."""
    if requested in LANGUAGES:
        return requested
    first = accept_language.split(",", 1)[0].strip().lower()
    if not first or first.startswith("zh") or first == "*":
        return "zh"
    return "en"


def labels_for(language: str) -> dict[str, str]:
    return LABELS[language if language in LABELS else "zh"]


# --- 信用管理 (/credit): the words behind the state machine's tokens ---------------------------------------
# The credit loop stores English tokens (states, event actions, statuses: ``decide_listing``, ``candidate``,
# ``propose:issue_notice``, ``waived`` …); a clerk reads them only through :func:`credit_zh`, which every
# template of the credit pages uses (filter ``zh``). Case states and case actions are the domain's own words
# (``creditflow.credit.lifecycle.STATES_ZH`` / ``CASE_ACTIONS``); the rest is here.

CREDIT_EVENTS = {
    "candidate": "发现列入线索", "notice_delivered": "登记告知书送达", "objection": "登记陈述申辩",
    "waiver": "登记放弃陈述申辩", "objection_upheld": "陈述申辩成立", "objection_rejected": "陈述申辩不予采纳",
    "decision_delivered": "登记决定书送达", "removal_requested": "登记提前移出申请",
    "early_removal_approved": "批准提前移出", "early_removal_rejected": "不予批准提前移出",
    "expired": "管理期满移出", "revisit": "处罚决定变更或撤销，待复核",
    "annul_deferred": "撤销列入（待平台回执后办理）",
    "published": "已在平台公示", "tracked": "开始跟踪处罚信息公示", "penalty_revoked": "处罚决定被撤销",
    "penalty_changed": "处罚决定变更", "repair_notice_issued": "生成信用修复告知书",
    "repair_notice_delivered": "登记信用修复告知书送达", "publicity_ended": "公示期满停止公示",
    "repair_notice_reissued": "生成更正的信用修复告知书", "penalty_reclassified": "处罚信息公示类别重新认定",
    "repair_accepted": "登记受理信用修复申请", "repair_extended": "复杂情形延长修复办理时限",
    "repair_requested": "登记信用修复申请", "repair_approved": "批准信用修复", "repair_rejected": "不予批准信用修复",
    "penalty_repair_proposed_approve": "经办人建议批准信用修复",
    "penalty_repair_proposed_reject": "经办人建议不予批准信用修复",
    "early_removal_proposed_approve": "经办人建议批准提前移出",
    "early_removal_proposed_reject": "经办人建议不予批准提前移出",
}
CREDIT_STATUSES = {
    "penalty": {"publicising": "公示中", "not_published": "不公示", "revoked": "处罚决定已撤销",
                "repaired": "已信用修复（停止公示）", "ended": "公示期满（停止公示）"},
    "request": {"received": "待办理", "approved": "已批准", "rejected": "不予批准", "revoked": "批准已撤销"},
    "objection": {"pending": "待复核", "waived": "已书面放弃", "upheld": "成立", "rejected": "不予采纳"},
    "request_kind": {"penalty_repair": "信用修复申请", "early_removal": "提前移出申请"},
    "penalty_class": {"minor": "轻微", "general": "一般", "serious": "严重",
                      "safety_production": "安全生产特定严重（不可修复）"},
}


def credit_zh(token: object, what: str = "action") -> str:
    """The Chinese words for a token of the credit loop. ``what``: ``state`` (a case state), ``action`` (a case
    action or an event of any subject, including ``propose:…`` / ``reject:…``), ``penalty``, ``request``,
    ``objection``, ``request_kind``, ``penalty_class``, ``actor``. An unknown token is shown as ``未知（token）`` —
    never silently as the bare token."""
    from creditflow.credit.lifecycle import CASE_ACTIONS, STATES_ZH

    text = "" if token is None else str(token)
    if not text:
        return ""
    if what == "actor":  # a user id, or the DAGs' own actor
        return "系统（自动办理）" if text == "system" else text
    if what == "state":
        return STATES_ZH.get(text) or f"未知状态（{text}）"
    if what == "action":
        verb, _, action = text.partition(":")
        if action and verb in ("propose", "reject"):
            name = CASE_ACTIONS.get(action, {}).get("zh") or f"未知操作（{action}）"
            return f"提出建议：{name}" if verb == "propose" else f"退回建议：{name}"
        spec = CASE_ACTIONS.get(text)
        return spec["zh"] if spec else CREDIT_EVENTS.get(text) or f"未知操作（{text}）"
    return CREDIT_STATUSES.get(what, {}).get(text) or f"未知（{text}）"


def regime_title(regime_id: Any) -> str:
    """A publicity regime's title (``data/rules/publicity.yaml``) for its id (the templates' ``regime`` filter)."""
    from creditflow.core.rules import publicity_rules

    titles = {r["id"]: r["title_zh"] for r in publicity_rules()["regimes"]}
    return titles.get(str(regime_id or ""), str(regime_id or "—"))
