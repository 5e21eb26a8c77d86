"""The credit loop's deadlines, worked out from what is stored (a start day and a rule), never re-entered.

A deadline that falls in a year whose official calendar is not in the data is stored as NULL and is
*unknown with its reason* (:class:`creditflow.core.duedates.Due`): the decision is recorded all the same,
the pages show 待定（2027年官方日历未发布）, the alerts list it, and the date appears wherever it is read as
soon as the year's calendar file is added. :func:`fill_known` also writes the dates that have become
computable into their columns (``calendar_watch`` calls it each day), so queries on the columns catch up.

=====================  ===============================  =========================================
column                 start (stored)                   rule (data/credit/periods.yaml, deadlines.yaml)
=====================  ===============================  =========================================
case.publication_due   case.decided_on                  list_publication
case.objection_until   case.notice_delivered_on         list_objection_period
case.revisit_due       the case's last ``revisit`` event  list_revisit_after_penalty_change
request.due_on         request.received_on              list_removal_decision / rules.repair_due (repair_*)
=====================  ===============================  =========================================
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import sqlalchemy as sa

from creditflow.core import warehouse as wh
from creditflow.core.duedates import Due, rule_due
from creditflow.credit import rules

C, R, E = wh.credit_case, wh.credit_request, wh.credit_event
CASE_RULES = {"publication_due": ("decided_on", "list_publication"),
              "objection_until": ("notice_delivered_on", "list_objection_period")}
REVISIT_RULE = "list_revisit_after_penalty_change"


def due(rule_id: str, start: dt.date | str | None) -> Due:
    """``rules.due(rule_id, start)``, or unknown with its reason (a year without the official calendar)."""
    if not start:
        return Due(None, "起算日未登记")
    day = start if isinstance(start, dt.date) else dt.date.fromisoformat(str(start)[:10])
    return rule_due(lambda: rules.due(rule_id, day))


def repair_due(received_on: dt.date | str | None, accepted_on: dt.date | str | None = None,
               complex_case: bool = False) -> Due:
    """When a credit-repair application must be decided (``rules.repair_due``: the time limits in force on
    the day it was received, from its acceptance when recorded, extended for a complex case), or unknown
    with its reason."""
    if not received_on:
        return Due(None, "起算日未登记")
    day = received_on if isinstance(received_on, dt.date) else dt.date.fromisoformat(str(received_on)[:10])
    accepted = None if not accepted_on else (
        accepted_on if isinstance(accepted_on, dt.date) else dt.date.fromisoformat(str(accepted_on)[:10]))
    return rule_due(lambda: rules.repair_due(day, accepted_on=accepted, complex_case=complex_case))


def repair_facts(conn: sa.Connection | None, request_id: str) -> tuple[str | None, bool]:
    """(acceptance day, complex case) of a repair request, from its ``repair_accepted`` / ``repair_extended``
    events (:func:`creditflow.credit.penalties.record_repair_acceptance` / ``record_repair_extension``)."""
    if conn is None:
        return None, False
    rows = conn.execute(sa.select(E.c.action, E.c.on_date).where(
        E.c.basis == request_id, E.c.action.in_(("repair_accepted", "repair_extended"))).order_by(E.c.id)).all()
    accepted = next((r[1] for r in reversed(rows) if r[0] == "repair_accepted"), None)
    return accepted, any(r[0] == "repair_extended" for r in rows)


def _stored(value: Any) -> Due | None:
    return Due(dt.date.fromisoformat(str(value)[:10])) if value else None


def _revisit_start(conn: sa.Connection, case_id: str) -> str | None:
    return conn.execute(sa.select(E.c.on_date).where(E.c.subject_id == case_id, E.c.action == "revisit")
                        .order_by(E.c.id.desc()).limit(1)).scalar()


def case_dues(conn: sa.Connection | None, case: dict[str, Any]) -> dict[str, Due]:
    """The case's deadlines that apply to it: stored dates, else computed from their stored start."""
    out: dict[str, Due] = {}
    for column, (start, rule_id) in CASE_RULES.items():
        if case.get(column):
            out[column] = _stored(case[column])  # type: ignore[assignment]
        elif case.get(start):
            out[column] = due(rule_id, case[start])
    if case.get("revisit_due"):
        out["revisit_due"] = _stored(case["revisit_due"])  # type: ignore[assignment]
    elif case.get("state") == "revisit" and conn is not None:
        out["revisit_due"] = due(REVISIT_RULE, _revisit_start(conn, case["case_id"]))
    return out


def request_due(conn: sa.Connection | None, req: dict[str, Any]) -> Due:
    """A request's deadline: stored, else from its received day and the rule of its kind."""
    stored = _stored(req.get("due_on"))
    if stored is not None:
        return stored
    if req.get("kind") == "early_removal":
        return due("list_removal_decision", req.get("received_on"))
    accepted, complex_case = repair_facts(conn, str(req.get("request_id") or ""))
    return repair_due(req.get("received_on"), accepted, complex_case)


def objection_over(conn: sa.Connection | None, case: dict[str, Any], on: dt.date) -> bool | None:
    """Whether the objection period has ended by ``on`` (None: its end is unknown yet)."""
    until = case_dues(conn, case).get("objection_until")
    if until is None or until.date is None:
        return None
    return on > until.date


def shown(conn: sa.Connection | None, row: dict[str, Any], request: bool = False) -> dict[str, Any]:
    """A copy of a case or request for a page: unknown deadlines as 待定（…）, computed ones filled in."""
    out = dict(row)
    if request:
        out["due_on"] = request_due(conn, row).label_zh()
        return out
    for column, d in case_dues(conn, row).items():
        out[column] = d.label_zh()
    return out


def fill_known(engine: sa.Engine) -> dict[str, int]:
    """Write the deadlines that were unknown and are computable now (the year's calendar was added), and the
    publicity dates of penalties stored while their year's holidays were unknown (weekends only)."""
    from creditflow.credit.penalties import refresh_dates

    filled = {"cases": 0, "requests": 0, "penalties": refresh_dates(engine)}
    with engine.begin() as conn:
        cases = [dict(r) for r in conn.execute(sa.select(C).where(sa.or_(
            sa.and_(C.c.publication_due.is_(None), C.c.decided_on.is_not(None)),
            sa.and_(C.c.objection_until.is_(None), C.c.notice_delivered_on.is_not(None)),
            sa.and_(C.c.revisit_due.is_(None), C.c.state == "revisit")))).mappings()]
        for case in cases:
            values = {col: d.iso() for col, d in case_dues(conn, case).items() if not case.get(col) and d.known}
            if values:
                conn.execute(C.update().where(C.c.case_id == case["case_id"]).values(**values))
                filled["cases"] += 1
        for req in [dict(r) for r in conn.execute(sa.select(R).where(R.c.due_on.is_(None))).mappings()]:
            d = request_due(conn, req)
            if d.known:
                conn.execute(R.update().where(R.c.request_id == req["request_id"]).values(due_on=d.iso()))
                filled["requests"] += 1
    return filled


def unknown_lines(engine: sa.Engine) -> list[str]:
    """Alert lines for deadlines still unknown (no personal data: ids and dates only)."""
    out: list[str] = []
    names = {"publication_due": "列入决定公示时限", "objection_until": "陈述申辩期届满日", "revisit_due": "复核时限"}
    with engine.connect() as conn:
        cases = [dict(r) for r in conn.execute(sa.select(C).where(C.c.state.in_(
            ("notice_delivered", "listed", "revisit")))).mappings()]
        for case in cases:
            relevant = {"notice_delivered": "objection_until", "listed": "publication_due",
                        "revisit": "revisit_due"}[case["state"]]
            d = case_dues(conn, case).get(relevant)
            if d is not None and not d.known:
                out.append(f"【期限待定】案件 {case['case_id']} {names[relevant]}{d.label_zh()}，"
                           "补充官方日历后自动计算")
        for req in [dict(r) for r in conn.execute(sa.select(R).where(R.c.status == "received",
                                                                      R.c.due_on.is_(None))).mappings()]:
            d = request_due(conn, req)
            if not d.known:
                out.append(f"【期限待定】申请 {req['request_id']} 办结时限{d.label_zh()}，补充官方日历后自动计算")
    return out
