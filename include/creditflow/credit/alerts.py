"""What a person must do soon in the credit loop, as Chinese lines without personal data (case ids, document
numbers and dates only): publications near or past their limit, revisits, decisions the objection window
now allows, early-removal and repair requests near their limit, rejected publications."""

from __future__ import annotations

import datetime as dt
import html
from typing import Any

import sqlalchemy as sa

from creditflow.core import ledger
from creditflow.core import warehouse as wh
from creditflow.core.duedates import due_status
from creditflow.credit import deadlines, rules

C, R, L = wh.credit_case, wh.credit_request, wh.ledger


def due_alerts(engine: sa.Engine, today: dt.date) -> list[str]:
    """Deadlines on the official calendar (:func:`creditflow.core.duedates.due_status`: a rest day after the
    due day is overdue); a deadline beyond the calendar is listed as 【期限待定】 with its reason."""
    out: list[str] = []
    with engine.connect() as conn:
        listed = [dict(r) for r in conn.execute(sa.select(C).where(C.c.state == "listed")).mappings()]
        revisit = [dict(r) for r in conn.execute(sa.select(C).where(C.c.state == "revisit")).mappings()]
        delivered = [dict(r) for r in conn.execute(sa.select(C).where(
            C.c.state == "notice_delivered", C.c.pending_action.is_(None))).mappings()]
        requests = [dict(r) for r in conn.execute(sa.select(R).where(R.c.status == "received")).mappings()]
        rejected = [dict(r) for r in conn.execute(sa.select(L.c.kind, L.c.owner_record_id, L.c.code).where(
            L.c.state == "rejected", L.c.origin == ledger.CREDIT)).mappings()]
        dues = {c["case_id"]: deadlines.case_dues(conn, c) for c in [*listed, *revisit, *delivered]}
        req_dues = {r["request_id"]: deadlines.request_due(conn, r) for r in requests}
    for case in listed:
        due = dues[case["case_id"]].get("publication_due")
        if due is None:
            continue
        st = due_status(due, today)
        if st.state == "unknown":
            out.append(f"【期限待定】案件 {case['case_id']} 列入决定（{case['decided_on']}）公示时限{due.label_zh()}，"
                       "补充官方日历后自动计算，平台尚未接收")
        elif st.overdue:
            out.append(f"【逾期】案件 {case['case_id']} 列入决定（{case['decided_on']}）应于{due.iso()}前公示，"
                       f"平台尚未接收（{st.label_zh()}）")
        elif st.days is not None and due.date and st.days <= rules.deadline("list_publication_due_soon",
                                                                            due.date).amount:
            out.append(f"【临期】案件 {case['case_id']} 列入决定须于{due.iso()}前公示（剩余{st.days}个工作日），"
                       "平台尚未接收")
    for case in revisit:
        due = dues[case["case_id"]].get("revisit_due")
        st = due_status(due, today)
        late = {"overdue": "【逾期】", "unknown": "【期限待定】"}.get(st.state, "【待办】")
        shown_due = due.label_zh() if due is not None else "—"
        out.append(f"{late}案件 {case['case_id']} 据以列入的处罚决定已变更，须于{shown_due}前复核并更新公示")
    for case in delivered:
        until = dues[case["case_id"]].get("objection_until")
        if until is not None and not until.known:
            out.append(f"【期限待定】案件 {case['case_id']} 陈述申辩期届满日{until.label_zh()}，补充官方日历后自动计算")
        elif until is not None and due_status(until, today).overdue:
            out.append(f"【待办】案件 {case['case_id']} 陈述申辩期已于{until.iso()}届满，可研究作出列入决定")
    for req in requests:
        req_due = req_dues[req["request_id"]]
        kind = "提前移出" if req["kind"] == "early_removal" else "信用修复"
        st = due_status(req_due, today)
        if st.state == "unknown":
            out.append(f"【期限待定】{kind}申请 {req['request_id']} 办结时限{req_due.label_zh()}，"
                       "补充官方日历后自动计算")
        elif st.overdue:
            out.append(f"【逾期】{kind}申请 {req['request_id']} 应于{req_due.iso()}前办结（{st.label_zh()}）")
        elif st.days is not None and req_due.date and st.days <= rules.deadline("credit_request_due_soon",
                                                                                req_due.date).amount:
            out.append(f"【临期】{kind}申请 {req['request_id']} 应于{req_due.iso()}前办结")
    for row in rejected:
        out.append(f"【退回】平台拒收 {row['kind']} 记录（{row['owner_record_id']}，代码{row['code']}），"
                   "请核对后重新报送")
    return out


def as_mail(lines: list[str], today: dt.date, what: str) -> tuple[str, str]:
    subject = f"【creditflow】{what}待办与临期预警（{today}，{len(lines)}项）"
    body = "".join(f"<li>{html.escape(line)}</li>" for line in lines)
    tail = "<p>详见 Creditflow → 信用管理。本邮件不含个人信息。</p>"
    return subject, f"<p>{html.escape(subject)}</p><ul>{body}</ul>{tail}"


def missing_notice_lines(rows: list[dict[str, Any]]) -> list[str]:
    return [f"【两书同达】处罚决定 {r['doc_no']}（{r['decision_date']}）的信用修复告知书尚未登记送达" for r in rows]
