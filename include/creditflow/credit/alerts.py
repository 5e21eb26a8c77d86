"""What a person must do soon in the credit loop, as Chinese lines without personal data (case ids, document
numbers and dates only): publications near or past their limit, revisits, decisions the objection window
now allows, early-removal and repair requests near their limit, rejected publications."""

from __future__ import annotations

import datetime as dt
import html
from typing import Any

import sqlalchemy as sa

from creditflow.core import warehouse as wh
from creditflow.core.workdays import official_calendar
from creditflow.credit import publish, rules

C, R, L = wh.credit_case, wh.credit_request, wh.ledger


def due_alerts(engine: sa.Engine, today: dt.date) -> list[str]:
    cal = official_calendar()
    out: list[str] = []
    with engine.connect() as conn:
        listed = [dict(r) for r in conn.execute(sa.select(C).where(C.c.state == "listed")).mappings()]
        revisit = [dict(r) for r in conn.execute(sa.select(C).where(C.c.state == "revisit")).mappings()]
        waiting = [dict(r) for r in conn.execute(sa.select(C).where(
            C.c.state == "notice_delivered", C.c.objection_until < today.isoformat(),
            C.c.pending_action.is_(None))).mappings()]
        requests = [dict(r) for r in conn.execute(sa.select(R).where(R.c.status == "received")).mappings()]
        rejected = [dict(r) for r in conn.execute(sa.select(L.c.kind, L.c.owner_record_id, L.c.code).where(
            L.c.state == "rejected", L.c.message.like(publish.MARK + "%"))).mappings()]
    for case in listed:
        due = dt.date.fromisoformat(case["publication_due"])
        soon = rules.deadline("list_publication_due_soon", due).amount
        left = cal.working_days_between(today, due)
        if today > due:
            out.append(f"【逾期】案件 {case['case_id']} 列入决定（{case['decided_on']}）应于{due}前公示，平台尚未接收")
        elif left <= soon:
            out.append(f"【临期】案件 {case['case_id']} 列入决定须于{due}前公示（剩余{left}个工作日），平台尚未接收")
    for case in revisit:
        late = "【逾期】" if today > dt.date.fromisoformat(case["revisit_due"]) else "【待办】"
        out.append(f"{late}案件 {case['case_id']} 据以列入的处罚决定已变更，须于{case['revisit_due']}前复核并更新公示")
    for case in waiting:
        out.append(f"【待办】案件 {case['case_id']} 陈述申辩期已于{case['objection_until']}届满，可研究作出列入决定")
    for req in requests:
        req_due = dt.date.fromisoformat(req["due_on"]) if req["due_on"] else None
        if req_due and cal.working_days_between(today, req_due) <= rules.deadline("credit_request_due_soon",
                                                                                  req_due).amount:
            kind = "提前移出" if req["kind"] == "early_removal" else "信用修复"
            out.append(f"【临期】{kind}申请 {req['request_id']} 应于{req['due_on']}前办结")
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
