"""A 严重失信名单 case through its states; every transition is a ``cf_credit_event`` (who, when, document, basis).

::

    candidate ─issue_notice→ notice_issued ─delivery→ notice_delivered ─decide_listing→ listed ─platform→ published
        │                         │                        │ (objection upheld)                    │
        └──────────── dismiss ────┴────────────────────────┴──→ dismissed           expire (3 years) → expired
    published ─early removal (request ≥ 12 months, conditions)→ removed ─revoke_removal→ listed (original end)
    listed/published ─penalty changed→ revisit ─maintain_listing→ listed | ─annul_listing→ annulled
    listed/published ─penalty revoked→ annulled (automatic withdrawal)

Decisions (issue_notice, dismiss, decide_listing, maintain/annul, revoke_removal, early removal) take two
people: one proposes, another approves (``data/credit/roles.yaml``). Facts (deliveries, objections,
requests) are recorded by one. The DAG never decides: it proposes candidates, expires listings at the end
of the management period and follows changed or revoked penalties.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import logging
from typing import Any

import sqlalchemy as sa

from creditflow.common import mask_text
from creditflow.core import ledger
from creditflow.core import warehouse as wh
from creditflow.credit import deadlines, documents, publish, rules
from creditflow.credit.penalties import propose_request, reclassify
from creditflow.credit.roles import Reviewer, load_roles
from creditflow.credit.store import (
    SYSTEM,
    CreditError,
    InFlight,
    as_date,
    dumps,
    event,
    natural_key,
    open_json,
    opened,
    seal_json,
    seal_text,
)

log = logging.getLogger(__name__)
C, OBJ, R = wh.credit_case, wh.credit_objection, wh.credit_request
DEFERRED = "annul_deferred"  # a revoked penalty's listing waiting for an in-flight publication's receipt
ACTIVE = ("listed", "published", "revisit")  # on the list: the decision is in force
STATES_ZH = {"candidate": "待研判", "notice_issued": "已发告知书", "notice_delivered": "告知书已送达（陈述申辩期）",
             "listed": "已决定列入（待公示）", "published": "已公示", "revisit": "处罚变更待复核",
             "removed": "已提前移出", "expired": "期满移出", "dismissed": "不予列入", "annulled": "已撤销列入"}
CASE_ACTIONS: dict[str, dict[str, Any]] = {
    "issue_notice": {"from": ("candidate",), "zh": "发出列入告知书"},
    "dismiss": {"from": ("candidate", "notice_issued", "notice_delivered"), "zh": "不予列入"},
    "decide_listing": {"from": ("notice_delivered",), "zh": "作出列入决定"},
    "maintain_listing": {"from": ("revisit",), "zh": "维持列入（更正公示）"},
    "annul_listing": {"from": ("revisit",), "zh": "撤销列入决定"},
    "revoke_removal": {"from": ("removed",), "zh": "撤销提前移出、恢复列入"},
}

__all__ = ["ACTIVE", "CASE_ACTIONS", "STATES_ZH", "propose_request"]


def get_case(conn: sa.Connection, case_id: str) -> dict[str, Any]:
    row = conn.execute(sa.select(C).where(C.c.case_id == case_id)).mappings().first()
    if row is None:
        raise CreditError(f"没有案件 {case_id}")
    return dict(row)


def _set(conn: sa.Connection, case: dict[str, Any], **values: Any) -> None:
    conn.execute(C.update().where(C.c.case_id == case["case_id"]).values(updated_at=wh.now_iso(), **values))


def open_case(conn: sa.Connection, cand: dict[str, Any], actor: str, on: dt.date) -> bool:
    """Insert a candidate (from the DAG or an officer) unless its case id exists; True when new."""
    if conn.execute(sa.select(C.c.case_id).where(C.c.case_id == cand["case_id"])).first() is not None:
        return False
    conn.execute(C.insert().values(**cand, state="candidate", created_on=on.isoformat(), updated_at=wh.now_iso()))
    event(conn, cand["case_id"], "candidate", actor, on, to_state="candidate",
          basis=rules.situation(cand["situation_id"]).label, comment=cand.get("source_ref"))
    return True


def _objections(conn: sa.Connection, case_id: str) -> list[dict[str, Any]]:
    return [dict(r) for r in conn.execute(sa.select(OBJ).where(OBJ.c.case_id == case_id).order_by(OBJ.c.id)).mappings()]


def _check(conn: sa.Connection, case: dict[str, Any], action: str, on: dt.date) -> None:
    spec = CASE_ACTIONS.get(action)
    if spec is None:
        raise CreditError(f"未知的操作 {action}")
    if case["state"] not in spec["from"]:
        raise CreditError(f"案件处于“{STATES_ZH.get(case['state'], case['state'])}”，不能{spec['zh']}")
    if action == "decide_listing":
        objections = _objections(conn, case["case_id"])
        waived = any(o["status"] == "waived" for o in objections)
        over = deadlines.objection_over(conn, case, on)
        until = deadlines.case_dues(conn, case)["objection_until"].label_zh()
        if not waived and over is None:
            raise CreditError(f"陈述申辩期届满日{until}，补充官方日历、期满后方可作出列入决定")
        if not waived and not over:
            raise CreditError(f"陈述申辩期至{until}，期满后方可作出列入决定")
        if any(o["status"] == "pending" for o in objections):
            raise CreditError("尚有未处理的陈述申辩意见，须先复核")
    if action == "revoke_removal" and not any(
            r["status"] == "approved" for r in _requests(conn, case["case_id"])):
        raise CreditError("该案件不是经提前移出程序移出的")


def propose(engine: sa.Engine, case_id: str, action: str, who: Reviewer, on: dt.date, note: str = "") -> None:
    load_roles().require("propose", who)
    if action == "revoke_removal" and not note.strip():
        raise CreditError("撤销提前移出须写明查实的隐瞒或虚假情况")
    with engine.begin() as conn:
        case = get_case(conn, case_id)
        if case["pending_action"]:
            raise CreditError("该案件已有待批准的建议")
        _check(conn, case, action, on)
        _set(conn, case, pending_action=action, proposed_by=who.user_id, proposed_at=wh.now_iso(),
             proposal=seal_json({"note": note, "on": on.isoformat()}))
        event(conn, case_id, f"propose:{action}", who.user_id, on, from_state=case["state"], to_state=case["state"],
              comment=note)


def approve(engine: sa.Engine, case_id: str, who: Reviewer, on: dt.date, run_key: str, accept: bool = True,
            note: str = "") -> str:
    """The approver decides the pending proposal; on acceptance the action is carried out. Returns the state."""
    with engine.begin() as conn:
        case = get_case(conn, case_id)
        action = case["pending_action"]
        if not action:
            raise CreditError("该案件没有待批准的建议")
        load_roles().require_approver(who, case["proposed_by"])
        cleared = {"pending_action": None, "proposed_by": None, "proposed_at": None, "proposal": None}
        if not accept:
            _set(conn, case, **cleared)
            event(conn, case_id, f"reject:{action}", who.user_id, on, from_state=case["state"], to_state=case["state"],
                  comment=note)
            return str(case["state"])
        _check(conn, case, action, on)
        proposal_note = (open_json(case["proposal"]) or {}).get("note", "")
        state, extra, doc_id, basis = _carry_out(conn, case, action, on, run_key, proposal_note)
        _set(conn, case, state=state, **cleared, **extra)
        if action in ("decide_listing", "annul_listing"):  # Order 36: a penalty that lists the party is 严重
            reclassify(conn, case.get("penalty_id"), on, CASE_ACTIONS[action]["zh"])
        event(conn, case_id, action, who.user_id, on, from_state=case["state"], to_state=state, document_id=doc_id,
              basis=basis, comment=" / ".join(x for x in (f"经办：{case['proposed_by']}", proposal_note, note) if x))
        return state


def _carry_out(conn: sa.Connection, case: dict[str, Any], action: str, on: dt.date, run_key: str,
               note: str) -> tuple[str, dict[str, Any], str | None, str]:
    reg = rules.listing()["regulation"]["title_zh"]  # the basis a clerk reads: the regulation's title, not its id
    clear = opened(case)  # for the party's documents and the platform only (#19 §3)
    if action == "issue_notice":
        doc = documents.issue(conn, "list_notice", case["case_id"], on, documents.list_notice_body(clear, on))
        basis = f"{reg} 列入前书面告知（参照行政处罚法）"
        return "notice_issued", {"notice_doc_id": doc["doc_id"]}, doc["doc_id"], basis
    if action == "dismiss":
        return "dismissed", {}, None, "经研判不予列入"
    if action == "decide_listing":
        notice = documents.load(conn, case["notice_doc_id"])
        body = documents.list_decision_body({**clear, "notice_doc_no": notice["doc_no"] if notice else ""}, on,
                                            _objections(conn, case["case_id"]))
        doc = documents.issue(conn, "list_decision", case["case_id"], on, body)
        end = rules.due("list_management_period", on)
        nk = natural_key(doc["doc_no"], case["party_key"])
        payload = publish.list_payload(clear, doc["doc_no"], on.isoformat(), end.isoformat())
        _queue(conn, case, nk, "create", payload, run_key, "列入严重失信主体名单", on)
        return "listed", {"decision_doc_id": doc["doc_id"], "decided_on": on.isoformat(), "list_start": on.isoformat(),
                          "list_end": end.isoformat(), "natural_key": nk,
                          "publication_due": deadlines.due("list_publication", on).iso(), "revisit_due": None}, \
            doc["doc_id"], f"{reg}；管理期限{rules.deadline('list_management_period', on).amount}年"
    row = publish.ledger_row(conn, publish.LIST_KIND, case["natural_key"])
    if row is None:
        raise CreditError("该案件没有公示记录")
    if action == "maintain_listing":
        payload = {**publish.ledger_payload(row), "SX_BZ": f"处罚决定变更后经复核维持列入（{on.isoformat()}）"}
        _queue(conn, case, case["natural_key"], "correct" if _published(row) else "create", payload, run_key,
               "维持列入", on, expected=row)
        return "listed", {"revisit_due": None}, None, "处罚决定变更后复核：维持列入"
    if action == "annul_listing":
        _withdraw(conn, case, row, run_key, "处罚决定变更，撤销列入决定")
        return "annulled", {"revisit_due": None}, None, "处罚决定变更后复核：撤销列入"
    # revoke_removal: restored with the original end date
    req = next(r for r in _requests(conn, case["case_id"]) if r["status"] == "approved")
    doc = documents.issue(conn, "removal_revocation", case["case_id"], on, documents.revocation_body(clear, note, on))
    conn.execute(R.update().where(R.c.request_id == req["request_id"]).values(
        status="revoked", revoked_on=on.isoformat(), revoke_reason=seal_text(note)))
    payload = {**publish.ledger_payload(row), "SX_YCRQ": case["list_end"],
               "SX_BZ": f"撤销提前移出决定（{doc['doc_no']}），恢复列入"}
    _queue(conn, case, case["natural_key"], "create", payload, run_key, "撤销提前移出，恢复列入", on, expected=row)
    return "listed", {"removed_on": None}, doc["doc_id"], str(rules.listing()["early_removal"]["revoked_when_zh"])


def _published(row: dict[str, Any] | None) -> bool:
    return row is not None and row["platform_status"] == "published"


def _queue(conn: sa.Connection, case: dict[str, Any], nk: str | None, op: str, payload: dict[str, Any], run_key: str,
           reason: str, on: dt.date, expected: Any = ledger.UNCHECKED) -> None:
    """Queue the case's operation; ``expected``: the ledger row the choice of ``op`` was made on (refused if it
    changed since, as when the previous operation is still in flight)."""
    if nk is None:
        raise CreditError("无法确定公示记录标识（决定书文号或当事人代码缺失）")
    try:
        publish.queue(conn, publish.LIST_KIND, [{"natural_key": nk, "op": op, "payload": payload,
                                                 "owner": case["case_id"], "party_key": case["party_key"],
                                                 "doc_key": nk.split("|")[0], "decision_date": on.isoformat(),
                                                 "reason": reason, "expected": expected}], run_key)
    except ValueError:
        raise InFlight("上一次公示操作尚未收到平台回执，请稍后再试") from None


def _withdraw(conn: sa.Connection, case: dict[str, Any], row: dict[str, Any] | None, run_key: str, reason: str) -> None:
    """Stop publication when something was published or is on its way; nothing to do otherwise."""
    if row is None or (row["state"] == "accepted" and row["platform_status"] == "withdrawn"):
        return
    if row["state"] == "rejected" and row["platform_status"] != "published":
        return
    _queue(conn, case, case["natural_key"], "withdraw", publish.ledger_payload(row), run_key, reason,
           dt.date.fromisoformat(case["decided_on"]), expected=row)


# --- facts recorded by one person ------------------------------------------------------------------------


def record_notice_delivery(engine: sa.Engine, case_id: str, delivered_on: dt.date, method: str, who: Reviewer) -> None:
    load_roles().require("record", who)
    with engine.begin() as conn:
        case = get_case(conn, case_id)
        if case["state"] != "notice_issued":
            raise CreditError("告知书尚未发出或已登记送达")
        until = deadlines.due("list_objection_period", delivered_on)  # 待定 beyond the official calendar
        days = rules.deadline("list_objection_period", delivered_on).amount
        documents.record_delivery(conn, case["notice_doc_id"], delivered_on, method, who.user_id)
        _set(conn, case, state="notice_delivered", notice_delivered_on=delivered_on.isoformat(),
             objection_until=until.iso())
        event(conn, case_id, "notice_delivered", who.user_id, delivered_on, from_state="notice_issued",
              to_state="notice_delivered", document_id=case["notice_doc_id"],
              basis=f"陈述申辩期{days}个工作日，至{until.label_zh()}",
              comment=method)


def record_objection(engine: sa.Engine, case_id: str, received_on: dt.date, content: str, who: Reviewer,
                     waiver: bool = False) -> int:
    load_roles().require("record", who)
    with engine.begin() as conn:
        case = get_case(conn, case_id)
        if case["state"] != "notice_delivered":
            raise CreditError("只有告知书送达后、作出决定前可以登记陈述申辩")
        late = bool(deadlines.objection_over(conn, case, received_on))
        res = conn.execute(OBJ.insert().values(case_id=case_id, received_on=received_on.isoformat(),
                                               content=seal_text(content),
                                               status="waived" if waiver else "pending", recorded_by=who.user_id,
                                               at=wh.now_iso()))
        assert res.inserted_primary_key is not None
        event(conn, case_id, "waiver" if waiver else "objection", who.user_id, received_on,
              comment=("（逾期提出）" if late else "") + content[:200])
        return int(res.inserted_primary_key[0])


def resolve_objection(engine: sa.Engine, objection_id: int, upheld: bool, resolution: str, who: Reviewer,
                      on: dt.date) -> None:
    """复核: an upheld objection ends the case (不予列入); a rejected one lets the decision proceed."""
    load_roles().require("approve", who)
    with engine.begin() as conn:
        obj = conn.execute(sa.select(OBJ).where(OBJ.c.id == objection_id)).mappings().first()
        if obj is None or obj["status"] != "pending":
            raise CreditError("该陈述申辩意见不存在或已处理")
        conn.execute(OBJ.update().where(OBJ.c.id == objection_id).values(
            status="upheld" if upheld else "rejected", resolved_by=who.user_id, resolved_on=on.isoformat(),
            resolution=seal_text(resolution)))
        case = get_case(conn, obj["case_id"])
        event(conn, case["case_id"], "objection_upheld" if upheld else "objection_rejected", who.user_id, on,
              comment=resolution)
        if upheld:
            _set(conn, case, state="dismissed", pending_action=None, proposed_by=None, proposal=None)
            event(conn, case["case_id"], "dismiss", who.user_id, on, from_state=case["state"], to_state="dismissed",
                  basis="陈述申辩成立，不予列入")


def record_decision_delivery(engine: sa.Engine, case_id: str, delivered_on: dt.date, method: str,
                             who: Reviewer) -> None:
    load_roles().require("record", who)
    with engine.begin() as conn:
        case = get_case(conn, case_id)
        if not case["decision_doc_id"]:
            raise CreditError("尚未作出列入决定")
        documents.record_delivery(conn, case["decision_doc_id"], delivered_on, method, who.user_id)
        event(conn, case_id, "decision_delivered", who.user_id, delivered_on, document_id=case["decision_doc_id"],
              comment=method)


# --- early removal ---------------------------------------------------------------------------------------


def _requests(conn: sa.Connection, case_id: str) -> list[dict[str, Any]]:
    return [dict(r) for r in conn.execute(sa.select(R).where(R.c.subject_id == case_id).order_by(R.c.at)).mappings()]


def removal_checks(conn: sa.Connection, case: dict[str, Any], received_on: dt.date,
                   evidence: dict[str, Any]) -> list[dict[str, Any]]:
    start = dt.date.fromisoformat(case["list_start"])
    earliest = rules.due("list_early_removal_after", start)
    others = conn.execute(sa.select(sa.func.count()).select_from(C).where(
        C.c.party_key == case["party_key"], C.c.case_id != case["case_id"], C.c.created_on > case["list_start"],
        C.c.state != "dismissed")).scalar_one()
    out = []
    for cond in rules.early_removal_conditions():
        c = {"id": cond["id"], "text_zh": cond["text_zh"], "by": cond["check"], "mark": cond["mark"]}
        if cond["id"] == "min_time":
            c.update(ok=received_on >= earliest, by_zh=f"系统核验（{earliest}起可申请）")
        elif cond["id"] == "no_new_conduct":
            c.update(ok=int(others) == 0, by_zh=f"系统核验（列入后新的列入线索 {int(others)} 条）")
        elif cond["check"] == "request":
            c.update(ok=bool(evidence.get(cond["id"])), by_zh="申请材料")
        else:
            c.update(ok=None, by_zh="待经办人核实")
        out.append(c)
    return out


def record_removal_request(engine: sa.Engine, case_id: str, received_on: dt.date, evidence: dict[str, Any],
                           who: Reviewer) -> str:
    load_roles().require("record", who)
    with engine.begin() as conn:
        case = get_case(conn, case_id)
        if case["state"] not in ("listed", "published"):
            raise CreditError("只有在名单管理期内可以申请提前移出")
        if any(r["status"] == "received" for r in _requests(conn, case_id)):
            raise CreditError("已有待办理的提前移出申请")
        rid = "YC-" + hashlib.sha256(f"{case_id}|{received_on}|{wh.now_iso()}".encode()).hexdigest()[:12]
        conn.execute(R.insert().values(
            request_id=rid, kind="early_removal", subject_id=case_id, party_key=case["party_key"],
            received_on=received_on.isoformat(), due_on=deadlines.due("list_removal_decision", received_on).iso(),
            evidence=seal_json(evidence), checks=dumps(removal_checks(conn, case, received_on, evidence)),
            status="received", recorded_by=who.user_id, at=wh.now_iso()))
        event(conn, case_id, "removal_requested", who.user_id, received_on, basis=rid, comment=evidence.get("note"))
    return rid


def approve_removal(engine: sa.Engine, request_id: str, accept: bool, decided_on: dt.date, who: Reviewer,
                    run_key: str, note: str = "") -> str:
    with engine.begin() as conn:
        req = conn.execute(sa.select(R).where(R.c.request_id == request_id)).mappings().first()
        if req is None or req["kind"] != "early_removal" or req["status"] != "received" or not req["proposed_by"]:
            raise CreditError("该申请没有待批准的建议")
        load_roles().require_approver(who, req["proposed_by"])
        case = get_case(conn, req["subject_id"])
        final = "approved" if accept and req["proposal"] == "approve" else "rejected"
        doc_id = None
        if final == "approved":
            if case["state"] not in ("listed", "published"):
                raise CreditError("案件已不在名单管理期内")
            doc = documents.issue(conn, "removal_decision", case["case_id"], decided_on,
                                  documents.removal_body(opened(case), dict(req), decided_on))
            doc_id = doc["doc_id"]
            _withdraw(conn, case, publish.ledger_row(conn, publish.LIST_KIND, case["natural_key"]), run_key,
                      "提前移出严重失信主体名单")
            _set(conn, case, state="removed", removed_on=decided_on.isoformat())
        conn.execute(R.update().where(R.c.request_id == request_id).values(
            status=final, decided_by=who.user_id, decided_on=decided_on.isoformat(), document_id=doc_id))
        event(conn, case["case_id"], f"early_removal_{final}", who.user_id, decided_on, from_state=case["state"],
              to_state="removed" if final == "approved" else case["state"], document_id=doc_id, basis=request_id,
              comment=" / ".join(x for x in (f"经办：{req['proposed_by']}", note) if x))
    return final


# --- what the DAG does -------------------------------------------------------------------------------------
#
# Each case is its own transaction. A case whose previous publication still waits for the platform's receipt
# (``pending``/``sent`` in cf_ledger) cannot take a new operation yet: it is skipped with a log line, counted
# as ``inflight`` in the task's result, and taken up again by a later run; the other cases go on.


def _skip_inflight(case: dict[str, Any], what: str) -> None:
    log.warning(mask_text(f"案件 {case['case_id']} 上一次公示操作尚未收到平台回执，本次暂不{what}，"
                          "其余案件照常处理；收到回执后由后续运行补办"))


def expire(engine: sa.Engine, today: dt.date, run_key: str) -> dict[str, int]:
    """Listings whose 3-year management period ended by ``today`` are removed (withdrawal queued).

    Returns ``{"expired": n, "inflight": k}``: ``k`` cases were skipped because their publication is still
    in flight; they stay on the list until a later run (the next day's) removes them."""
    with engine.connect() as conn:
        due = [dict(r) for r in conn.execute(sa.select(C).where(C.c.state.in_(ACTIVE),
                                                                C.c.list_end < today.isoformat())
                                             .order_by(C.c.case_id)).mappings()]
    out = {"expired": 0, "inflight": 0}
    for case in due:
        try:
            with engine.begin() as conn:
                _withdraw(conn, case, publish.ledger_row(conn, publish.LIST_KIND, case["natural_key"]), run_key,
                          "管理期限届满，移出严重失信主体名单")
                _set(conn, case, state="expired", removed_on=today.isoformat(), pending_action=None)
                event(conn, case["case_id"], "expired", SYSTEM, today, from_state=case["state"], to_state="expired",
                      basis=f"管理期限届满（{case['list_end']}）")
        except InFlight:  # nothing was written for this case: the refusal comes before any write
            _skip_inflight(case, "期满移出")
            out["inflight"] += 1
            continue
        out["expired"] += 1
    return out


def follow_penalties(engine: sa.Engine, rows: list[dict[str, Any]], run_key: str) -> dict[str, int]:
    """Case-system rows of changed (CHANGED) or revoked (REVOKED) penalties: listings built on them are
    revisited (a person decides, due in 3 working days) or, when revoked, annulled and withdrawn.

    A revoked penalty's listing whose publication is still in flight is not annulled yet: an
    ``annul_deferred`` event remembers it (the case-system row will not come back in a later interval), it
    is counted as ``inflight``, and every later run tries again first. Returns
    ``{"revisit": n, "annulled": n, "inflight": n}``."""
    out = {"revisit": 0, "annulled": 0, "inflight": 0}
    tried: set[str] = set()
    for case, changed in _deferred_annulments(engine):
        out[_annul_revoked(engine, case, changed, run_key, deferred=True)] += 1
        tried.add(case["case_id"])
    for row in rows:
        status = str(row.get("status") or "")
        if status not in ("CHANGED", "REVOKED"):
            continue
        changed = as_date(row.get("status_changed_at") or row.get("updated_at")) or dt.date.today()
        states = ACTIVE if status == "REVOKED" else ("listed", "published")
        with engine.connect() as conn:
            cases = [dict(r) for r in conn.execute(sa.select(C).where(
                C.c.penalty_id == f"case_db:{row['decision_id']}", C.c.state.in_(states))
                .order_by(C.c.case_id)).mappings()]
        for case in cases:
            if status == "REVOKED":
                if case["case_id"] in tried:  # waited for a receipt already this run
                    continue
                out[_annul_revoked(engine, case, changed, run_key)] += 1
                continue
            with engine.begin() as conn:
                if _revisited(conn, case["case_id"], changed):  # a re-run after the review: done
                    continue
                due = deadlines.due(deadlines.REVISIT_RULE, changed)
                _set(conn, case, state="revisit", revisit_due=due.iso())
                event(conn, case["case_id"], "revisit", SYSTEM, changed, from_state=case["state"],
                      to_state="revisit", basis=f"处罚决定已变更，须于{due.label_zh()}前复核并更新公示")
            out["revisit"] += 1
    return out


def _annul_revoked(engine: sa.Engine, case: dict[str, Any], changed: dt.date, run_key: str,
                   deferred: bool = False) -> str:
    """Annul one listing whose penalty was revoked and withdraw its publication: ``annulled``, or
    ``inflight`` when its publication still waits for a receipt (remembered for the next run)."""
    try:
        with engine.begin() as conn:
            _withdraw(conn, case, publish.ledger_row(conn, publish.LIST_KIND, case["natural_key"]), run_key,
                      "据以列入的行政处罚决定已被撤销")
            _set(conn, case, state="annulled", pending_action=None)
            event(conn, case["case_id"], "annul_listing", SYSTEM, changed, from_state=case["state"],
                  to_state="annulled", basis="处罚决定已撤销（行政处罚法第四十八条，三日内撤回公示）"
                  + ("；待上一次公示回执后补办" if deferred else ""))
        return "annulled"
    except InFlight:
        _skip_inflight(case, "撤销列入、撤回公示")
    if not deferred:
        with engine.begin() as conn:
            e = wh.credit_event
            seen = conn.execute(sa.select(e.c.id).where(e.c.subject_id == case["case_id"], e.c.action == DEFERRED,
                                                        e.c.on_date == changed.isoformat())).first()
            if seen is None:
                event(conn, case["case_id"], DEFERRED, SYSTEM, changed, from_state=case["state"],
                      to_state=case["state"],
                      basis="处罚决定已撤销；上一次公示操作尚未收到平台回执，收到后自动撤销列入、撤回公示")
    return "inflight"


def _deferred_annulments(engine: sa.Engine) -> list[tuple[dict[str, Any], dt.date]]:
    """Listings still on the list whose revoked penalty's annulment waited for a receipt (oldest first)."""
    e = wh.credit_event
    with engine.connect() as conn:
        rows = conn.execute(sa.select(C, e.c.on_date.label("deferred_on")).join(e, e.c.subject_id == C.c.case_id)
                            .where(e.c.action == DEFERRED, C.c.state.in_(ACTIVE)).order_by(e.c.id)).mappings()
        found: dict[str, tuple[dict[str, Any], dt.date]] = {}
        for r in rows:
            case = {k: v for k, v in r.items() if k != "deferred_on"}
            found.setdefault(case["case_id"], (case, dt.date.fromisoformat(r["deferred_on"])))
    return list(found.values())


def _revisited(conn: sa.Connection, case_id: str, changed: dt.date) -> bool:
    """Whether this change of the penalty already put the listing under revisit (re-runs, backfills)."""
    e = wh.credit_event
    return conn.execute(sa.select(e.c.id).where(e.c.subject_id == case_id, e.c.action == "revisit",
                                                e.c.on_date == changed.isoformat())).first() is not None
