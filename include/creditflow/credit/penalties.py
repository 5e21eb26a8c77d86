"""Penalties through their credit life: 两书同达 repair notice, publicity end, credit repair.

* :func:`track` — every penalty decision entered or changed in the case system during an interval gets
  a ``cf_credit_penalty`` row with its publicity under the rule set in force on its decision date
  (Order 58 with the 安全生产 minimum before 2026-04-01, Order 36 classes from then) and, for a legal
  person or other organisation, a 信用修复告知书 issued the day the decision is recorded. A changed
  penalty is recomputed; a revoked one stops (the 双公示 pipeline withdraws its publication).
* :func:`missing_notices` — decisions whose notice has no recorded delivery after the grace period.
* :func:`end_publicity` — at the end of the maximum period publication stops by itself: a withdrawal of
  the published record is queued on the ledger (:mod:`.publish`).
* Repair requests — :func:`record_repair_request` (with its evidence and the checks the data can
  decide), :func:`propose_request` / :func:`approve_repair` (two people); approval stops publication.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import logging
from typing import Any

import sqlalchemy as sa

from creditflow.common import mask_text
from creditflow.core import ledger
from creditflow.core import warehouse as wh
from creditflow.core.duedates import due_status
from creditflow.credit import deadlines, documents, publish, rules
from creditflow.credit.roles import Reviewer, load_roles
from creditflow.credit.store import (
    PARTY_TYPE_OF_CASE,
    SYSTEM,
    CreditError,
    as_date,
    dumps,
    event,
    natural_key,
    opened,
    party_code_of,
    seal_json,
    stored_party,
)

log = logging.getLogger(__name__)
P = wh.credit_penalty


def _categories(codes: str | None) -> list[str]:
    from creditflow.reporting.standardise import code_table

    table = code_table("casedb_penalty_codes")
    return [table.get(c.strip(), c.strip()) for c in str(codes or "").split(",") if c.strip()]


def case_rows(case_engine: sa.Engine, start: dt.datetime, end: dt.datetime) -> list[dict[str, Any]]:
    """Penalty decisions made, entered or changed in [start, end) — the 双公示 extraction query."""
    from creditflow.reporting.pipeline.common import SQL_DIR

    sql = wh.read_sql_file(SQL_DIR / "casedb" / "extract_penalty.sql")
    params = {"date_from": start.date(), "date_to": end.date(), "ts_from": start.replace(tzinfo=None),
              "ts_to": end.replace(tzinfo=None)}
    with case_engine.connect() as conn:
        return [dict(r) for r in conn.execute(sa.text(sql), params).mappings()]


def penalty_record(row: dict[str, Any]) -> dict[str, Any] | None:
    """A case-system row as this capability keeps it (None without decision date, document or party code)."""
    party_type = PARTY_TYPE_OF_CASE.get(str(row.get("party_type")), "法人及非法人组织")
    code = party_code_of(party_type, row.get("party_uscc"), row.get("person_id_no"))
    decided = as_date(row.get("decision_date"))
    if not code or decided is None or not row.get("doc_no"):
        return None
    party = stored_party(party_type, code, str(row.get("party_name") or ""))
    cats = _categories(row.get("penalty_codes"))
    return {"penalty_id": f"case_db:{row['decision_id']}",
            "natural_key": natural_key(row["doc_no"], party["party_key"]), **party, "party_type": party_type,
            "doc_no": str(row["doc_no"]), "decision_date": decided.isoformat(), "categories": ";".join(cats),
            "fine_yuan": float(row["fine_yuan"]) if row.get("fine_yuan") is not None else None,
            "authority_name": row.get("authority_name"), "source_status": str(row.get("status") or "VALID"),
            "violation_type": row.get("violation_type"), "legal_basis": row.get("legal_basis"),
            "entered_on": as_date(row.get("created_at")) or decided}


def _amount(value: Any) -> float | None:
    return None if value is None else round(float(value), 2)


def _listed(conn: sa.Connection, penalty_id: str) -> bool:
    """Whether this penalty put the party on the 严重失信主体名单 (Order 36: such a penalty is 严重): a listing
    decision rests on it that is in force or ended by removal or expiry — not one dismissed or annulled."""
    from creditflow.credit.lifecycle import ACTIVE

    C = wh.credit_case
    return conn.execute(sa.select(sa.func.count()).select_from(C).where(
        C.c.penalty_id == penalty_id, C.c.state.in_((*ACTIVE, "removed", "expired")))).scalar_one() > 0


def _publicity(rec: dict[str, Any], listed: bool) -> rules.Publicity:
    """The one classification (:func:`creditflow.core.publicity.classify`) of a tracked penalty."""
    return rules.publicity(dt.date.fromisoformat(rec["decision_date"]), rec["categories"].split(";"),
                           rec["party_type"], fine_yuan=rec["fine_yuan"], listed=listed)


def _publicity_values(rec: dict[str, Any], listed: bool = False) -> dict[str, Any]:
    pub = _publicity(rec, listed)
    return {"regime_id": pub.regime_id, "penalty_class": pub.penalty_class, "published": pub.published,
            "repairable": pub.repairable, "publicity_min_until": pub.min_until.isoformat() if pub.min_until else None,
            "publicity_max_until": pub.max_until.isoformat(),
            "earliest_repair": pub.earliest_repair.isoformat() if pub.earliest_repair else None}


def current_dates(pen: dict[str, Any], calendar: Any = None) -> dict[str, Any]:
    """A stored penalty with its publicity dates (publicity_min_until / earliest_repair / publicity_max_until)
    worked out again from its decision date, regime and class on today's official calendar
    (:func:`creditflow.core.publicity.class_dates`). The stored columns may have been computed while the
    year's holidays were unknown (weekends only): every reader that decides by these dates reads them here.
    ``calendar``: the official calendar the caller already took for this request (looking it up checks the
    calendar folders for changed files, ≈ 0.15 ms: once per 诚信审核 request, not once per penalty)."""
    from creditflow.core import publicity as core_publicity

    out = dict(pen)
    if not pen.get("regime_id") or not pen.get("penalty_class") or not pen.get("decision_date"):
        return out
    try:
        d = core_publicity.class_dates(str(pen["regime_id"]), str(pen["penalty_class"]),
                                       dt.date.fromisoformat(str(pen["decision_date"])[:10]),
                                       calendar or core_publicity.official_calendar())
    except (KeyError, StopIteration, ValueError):
        return out  # a regime or class no longer in the data: keep what was stored
    out["publicity_min_until"] = d.min_until.isoformat() if d.min_until else None
    out["publicity_max_until"] = d.max_until.isoformat()
    out["earliest_repair"] = d.earliest_repair.isoformat() if d.earliest_repair else None
    out["dates_provisional"] = d.provisional
    return out


def refresh_dates(engine: sa.Engine) -> int:
    """Write :func:`current_dates` into the columns of penalties still publicising whose stored dates differ
    (``calendar_watch`` calls it through :func:`creditflow.credit.deadlines.fill_known`). Returns the count."""
    n = 0
    cols = ("publicity_min_until", "publicity_max_until", "earliest_repair")
    with engine.begin() as conn:
        pens = [dict(r) for r in conn.execute(sa.select(P).where(
            P.c.status.in_(("publicising", "not_published")))).mappings()]
        for pen in pens:
            now = current_dates(pen)
            if any(str(now[c]) != str(pen[c]) for c in cols):
                conn.execute(P.update().where(P.c.penalty_id == pen["penalty_id"]).values(
                    **{c: now[c] for c in cols}, updated_at=wh.now_iso()))
                n += 1
    return n


def track(engine: sa.Engine, rows: list[dict[str, Any]]) -> dict[str, int]:
    """Upsert the penalties of ``rows`` (case-system rows), issue missing repair notices, follow changes."""
    counts = {"new": 0, "changed": 0, "revoked": 0, "notices": 0, "skipped": 0}
    for row in rows:
        rec = penalty_record(row)
        if rec is None:
            counts["skipped"] += 1
            continue
        with engine.begin() as conn:
            old = conn.execute(sa.select(P).where(P.c.penalty_id == rec["penalty_id"])).mappings().first()
            values = {k: rec[k] for k in ("natural_key", "party_key", "party_code", "party_type", "party_name",
                                          "doc_no", "decision_date", "categories", "fine_yuan", "authority_name",
                                          "source_status")}
            listed = _listed(conn, rec["penalty_id"])
            values.update(_publicity_values(rec, listed), updated_at=wh.now_iso())
            day = rec["entered_on"]
            if old is None:
                if rec["source_status"] == "REVOKED":
                    counts["skipped"] += 1
                    continue
                status = "publicising" if values["published"] else "not_published"
                conn.execute(P.insert().values(penalty_id=rec["penalty_id"], status=status, **values))
                event(conn, rec["penalty_id"], "tracked", SYSTEM, day, to_state=status,
                      basis=f"{values['regime_id']} / {values['penalty_class']}")
                counts["new"] += 1
            elif rec["source_status"] == "REVOKED" and old["status"] != "revoked":
                conn.execute(P.update().where(P.c.penalty_id == rec["penalty_id"]).values(
                    status="revoked", source_status="REVOKED", updated_at=wh.now_iso()))
                event(conn, rec["penalty_id"], "penalty_revoked", SYSTEM, day, from_state=old["status"],
                      to_state="revoked", basis="处罚决定已撤销：双公示流程撤回公示")
                counts["revoked"] += 1
                continue
            elif old["status"] in ("publicising", "not_published") and (any(
                    str(old[k]) != str(values[k]) for k in ("categories", "decision_date", "doc_no", "source_status",
                                                            "penalty_class"))
                    or _amount(old["fine_yuan"]) != _amount(values["fine_yuan"])):
                conn.execute(P.update().where(P.c.penalty_id == rec["penalty_id"]).values(**values))
                event(conn, rec["penalty_id"], "penalty_changed", SYSTEM, day, from_state=old["status"],
                      to_state=old["status"], basis="处罚决定变更：公示期限按变更后的决定重新计算")
                counts["changed"] += 1
                counts["notices"] += int(reissue_notice(conn, rec["penalty_id"], dict(old), day, "处罚决定变更")
                                         is not None)
            current = conn.execute(sa.select(P).where(P.c.penalty_id == rec["penalty_id"])).mappings().first()
            assert current is not None
            if current["notice_doc_id"] is None and rules.gets_repair_notice(rec["party_type"]) \
                    and current["status"] != "revoked":
                pub = _publicity(rec, listed)
                doc = documents.issue(conn, "repair_notice", rec["penalty_id"], day,
                                      documents.repair_notice_body(opened(dict(current)), pub))
                conn.execute(P.update().where(P.c.penalty_id == rec["penalty_id"]).values(notice_doc_id=doc["doc_id"]))
                event(conn, rec["penalty_id"], "repair_notice_issued", SYSTEM, day, document_id=doc["doc_id"],
                      basis=str(rules.repair_notice()["notice"]["source"]).split()[0])
                counts["notices"] += 1
    return counts


def record_notice_delivery(engine: sa.Engine, penalty_id: str, delivered_on: dt.date, method: str,
                           who: Reviewer) -> None:
    load_roles().require("record", who)
    with engine.begin() as conn:
        pen = conn.execute(sa.select(P).where(P.c.penalty_id == penalty_id)).mappings().first()
        if pen is None or pen["notice_doc_id"] is None:
            raise CreditError("该处罚没有信用修复告知书")
        documents.record_delivery(conn, pen["notice_doc_id"], delivered_on, method, who.user_id)
        conn.execute(P.update().where(P.c.penalty_id == penalty_id).values(
            notice_delivered_on=delivered_on.isoformat()))
        event(conn, penalty_id, "repair_notice_delivered", who.user_id, delivered_on, document_id=pen["notice_doc_id"],
              comment=method)


def reclassify(conn: sa.Connection, penalty_id: str | None, on: dt.date, basis: str) -> bool:
    """Recompute a tracked penalty's publicity after a listing resting on it was decided or annulled (Order 36:
    a penalty that puts the party on a 严重失信主体名单 is 严重). True when the class or dates changed."""
    if not penalty_id:
        return False
    pen = conn.execute(sa.select(P).where(P.c.penalty_id == penalty_id)).mappings().first()
    if pen is None or pen["status"] not in ("publicising", "not_published"):
        return False
    values = _publicity_values(dict(pen), _listed(conn, penalty_id))
    if all(str(pen[k]) == str(v) for k, v in values.items()):
        return False
    status = pen["status"] if pen["status"] == "publicising" or not values["published"] else "publicising"
    conn.execute(P.update().where(P.c.penalty_id == penalty_id).values(status=status, updated_at=wh.now_iso(),
                                                                        **values))
    event(conn, penalty_id, "penalty_reclassified", SYSTEM, on, from_state=pen["status"], to_state=status,
          basis=f"{basis}：{values['regime_id']} / {values['penalty_class']}")
    reissue_notice(conn, penalty_id, dict(pen), on, basis)
    return True


_NOTICE_FIELDS = ("penalty_class", "published", "publicity_min_until", "publicity_max_until", "earliest_repair")


def reissue_notice(conn: sa.Connection, penalty_id: str, old: dict[str, Any], on: dt.date, reason: str) -> str | None:
    """After a penalty's class or periods changed, a corrected 信用修复告知书 when one was already issued: a new
    document (the old one kept as it was), the penalty pointing at it and awaiting its delivery, and a
    ``repair_notice_reissued`` event naming both. Returns the new document's id (None: nothing to correct)."""
    pen = conn.execute(sa.select(P).where(P.c.penalty_id == penalty_id)).mappings().first()
    if pen is None or not old.get("notice_doc_id") or pen["status"] == "revoked":
        return None
    if all(str(old.get(k)) == str(pen[k]) for k in _NOTICE_FIELDS):
        return None
    previous = documents.load(conn, str(old["notice_doc_id"]))
    prev_no = previous["doc_no"] if previous else str(old["notice_doc_id"])
    rec = dict(pen)
    body = documents.repair_notice_body(opened(rec), _publicity(rec, _listed(conn, penalty_id)))
    body["paragraphs"] = [*body["paragraphs"], f"因{reason}，公示类别或者期限发生变化，本告知书更正并取代本局此前送达的"
                          f"《{documents.TITLES['repair_notice']}》（{prev_no}）。"]
    body["fields"] = {**body["fields"], "replaces": prev_no}
    doc = documents.issue(conn, "repair_notice", penalty_id, on, body)
    conn.execute(P.update().where(P.c.penalty_id == penalty_id).values(notice_doc_id=doc["doc_id"],
                                                                       notice_delivered_on=None))
    event(conn, penalty_id, "repair_notice_reissued", SYSTEM, on, document_id=doc["doc_id"],
          basis=f"{reason}：{old.get('penalty_class')} → {pen['penalty_class']}", comment=f"更正并取代 {prev_no}")
    return str(doc["doc_id"])


def missing_notices(engine: sa.Engine, today: dt.date) -> list[dict[str, Any]]:
    """Decisions that need a notice and have no delivery recorded within the grace period — counted from the
    decision, or from the day a corrected notice was issued (``repair_notice_reissued``) when there is one."""
    E = wh.credit_event
    with engine.connect() as conn:
        rows = [dict(r) for r in conn.execute(sa.select(P).where(
            P.c.notice_delivered_on.is_(None), P.c.status.in_(("publicising", "not_published")),
            P.c.party_type.in_(tuple(rules.repair_notice()["notice"]["party_types"])))).mappings()]
        reissued = dict(conn.execute(sa.select(E.c.subject_id, sa.func.max(E.c.on_date)).where(
            E.c.action == "repair_notice_reissued", E.c.subject_id.in_([r["penalty_id"] for r in rows]))
            .group_by(E.c.subject_id)).all()) if rows else {}
    return [r for r in rows if due_status(deadlines.due(
        "repair_notice_delivery", max(str(r["decision_date"]), str(reissued.get(r["penalty_id"]) or ""))),
        today).overdue]


def end_publicity(engine: sa.Engine, today: dt.date, run_key: str) -> dict[str, int]:
    """Penalties whose maximum publicity period ended by ``today``: publication stops (withdrawal queued).

    Each penalty is its own transaction. One whose upload (by the 双公示 pipeline) or previous operation
    still waits for the platform's receipt is skipped with a log line and counted as ``waiting``; the
    others go on, and a later run ends it (it stays due). Returns ``{"ended", "withdrawals", "waiting"}``."""
    counts = {"ended": 0, "withdrawals": 0, "waiting": 0}
    with engine.connect() as conn:
        due = [dict(r) for r in conn.execute(sa.select(P).where(
            # publicity_max_until is the period's last day, published until 24:00 (民法典 art. 203): stop the day after
            P.c.status.in_(("publicising", "not_published")), P.c.publicity_max_until < today.isoformat())
            .order_by(P.c.penalty_id)).mappings()]
    # the stored last day may be provisional (a holiday since published moves it later): decide on the current one
    due = [p for p in due if current_dates(p)["publicity_max_until"] < today.isoformat()]
    for pen in due:
        with ledger.ledger_lock(engine), engine.begin() as conn:  # read-decide-write of the ledger row
            if not _stop_publication(conn, pen, run_key, f"公示期满（{pen['publicity_max_until']}），停止公示"):
                log.warning(mask_text(f"处罚决定 {pen['doc_no']} 的公示记录尚未收到平台回执，本次暂不停止公示，"
                                      "其余处罚照常处理；收到回执后由后续运行补办"))
                counts["waiting"] += 1
                continue
            row = publish.ledger_row(conn, "penalty", pen["natural_key"])
            counts["withdrawals"] += int(row is not None and row["state"] == "pending" and row["op"] == "withdraw")
            conn.execute(P.update().where(P.c.penalty_id == pen["penalty_id"]).values(
                status="ended", ended_on=today.isoformat(), updated_at=wh.now_iso()))
            event(conn, pen["penalty_id"], "publicity_ended", SYSTEM, today, from_state=pen["status"], to_state="ended",
                  basis=f"最长公示期届满（{pen['regime_id']}）")
            counts["ended"] += 1
    return counts


def _stop_publication(conn: sa.Connection, pen: dict[str, Any], run_key: str, reason: str) -> bool:
    """Queue the withdrawal of the published penalty; False while its upload is still in flight (or the row
    changed since it was read: the ledger refuses, and a later run decides again)."""
    row = publish.ledger_row(conn, "penalty", pen["natural_key"])
    if row is None or row["platform_status"] != "published":
        return row is None or row["state"] not in ledger.IN_FLIGHT
    if row["state"] in ledger.IN_FLIGHT:
        return False
    try:
        publish.queue(conn, "penalty", [{
            "natural_key": row["natural_key"], "op": "withdraw", "payload": json.loads(row["pending_payload"]),
            "owner": row["owner_record_id"], "party_key": row["party_key"], "doc_key": row["doc_key"],
            "decision_date": row["decision_date"], "reason": reason, "expected": row}], run_key)
    except ledger.LedgerConflict:
        return False
    return True


# --- credit repair requests --------------------------------------------------------------------------------

R = wh.credit_request


def repair_checks(pen: dict[str, Any], received_on: dt.date, evidence: dict[str, Any]) -> list[dict[str, Any]]:
    """Each repair condition: what decided it (data / request / reviewer) and the result (None: the reviewer)."""
    pen = current_dates(pen)
    earliest = as_date(pen["earliest_repair"])
    return [
        {"id": "repairable", "text_zh": "该类信息依规可以修复", "by": "data", "by_zh": "系统核验",
         "ok": bool(pen["repairable"])},
        {"id": "min_period", "text_zh": f"最短公示期已满（{pen['earliest_repair'] or '—'}起可申请）", "by": "data",
         "by_zh": "系统核验", "ok": earliest is not None and received_on >= earliest},
        {"id": "commitment", "text_zh": "已作出信用承诺", "by": "request", "by_zh": "申请材料",
         "ok": bool(evidence.get("commitment"))},
        {"id": "obligations", "text_zh": "已纠正失信行为、履行行政处罚等法定义务", "by": "reviewer",
         "by_zh": "经办人核实", "ok": None},
    ]


def _today() -> dt.date:
    from creditflow.common import TZ

    return dt.datetime.now(TZ).date()


def record_repair_request(engine: sa.Engine, penalty_id: str, received_on: dt.date, evidence: dict[str, Any],
                          who: Reviewer) -> str:
    load_roles().require("record", who)
    with engine.begin() as conn:
        pen = conn.execute(sa.select(P).where(P.c.penalty_id == penalty_id)).mappings().first()
        if pen is None or pen["status"] != "publicising":
            raise CreditError("该处罚信息不在公示期内，无需修复")
        rid = "XF-" + hashlib.sha256(f"{penalty_id}|{received_on}|{wh.now_iso()}".encode()).hexdigest()[:12]
        conn.execute(R.insert().values(
            request_id=rid, kind="penalty_repair", subject_id=penalty_id, party_key=pen["party_key"],
            received_on=received_on.isoformat(), due_on=deadlines.repair_due(received_on).iso(),
            evidence=seal_json(evidence), checks=dumps(repair_checks(dict(pen), received_on, evidence)),
            status="received", recorded_by=who.user_id, at=wh.now_iso()))
        event(conn, penalty_id, "repair_requested", who.user_id, received_on, basis=rid, comment=evidence.get("note"))
    return rid


def _open_repair(conn: sa.Connection, request_id: str) -> dict[str, Any]:
    req = conn.execute(sa.select(R).where(R.c.request_id == request_id)).mappings().first()
    if req is None or req["kind"] != "penalty_repair" or req["status"] != "received":
        raise CreditError("该信用修复申请不在办理中")
    return dict(req)


def record_repair_acceptance(engine: sa.Engine, request_id: str, accepted_on: dt.date, who: Reviewer) -> str | None:
    """Record the day a repair application was accepted (受理): a ``repair_accepted`` event; the decision limit
    then runs from it (Order 36: 7 working days from acceptance [M]). Returns the new due day (None: unknown yet)."""
    load_roles().require("record", who)
    with engine.begin() as conn:
        req = _open_repair(conn, request_id)
        if accepted_on < dt.date.fromisoformat(req["received_on"]):
            raise CreditError("受理日期不能早于收到申请的日期")
        event(conn, req["subject_id"], "repair_accepted", who.user_id, accepted_on, basis=request_id)
        return _refresh_request_due(conn, req)


def record_repair_extension(engine: sa.Engine, request_id: str, on: dt.date, reason: str, who: Reviewer) -> str | None:
    """Record that a repair application is a complex case whose limit is extended (Order 36: 10 more working
    days), with the reason: a ``repair_extended`` event. Refused when the rule in force on the application day
    provides no extension (Order 58). Returns the new due day (None: unknown yet)."""
    load_roles().require("record", who)
    if not (reason or "").strip():
        raise CreditError("延长办理时限须说明理由")
    with engine.begin() as conn:
        req = _open_repair(conn, request_id)
        try:
            rules.deadline("repair_extension", dt.date.fromisoformat(req["received_on"]))
        except rules.NoRuleInForce:
            raise CreditError("该申请适用的规则未规定复杂情形延长办理时限") from None
        event(conn, req["subject_id"], "repair_extended", who.user_id, on, basis=request_id, comment=reason)
        return _refresh_request_due(conn, req)


def _refresh_request_due(conn: sa.Connection, req: dict[str, Any]) -> str | None:
    d = deadlines.request_due(conn, {**req, "due_on": None})
    conn.execute(R.update().where(R.c.request_id == req["request_id"]).values(due_on=d.iso() if d.known else None))
    return d.iso() if d.known else None


def propose_request(engine: sa.Engine, request_id: str, decision: str, confirmed: list[str], who: Reviewer,
                    on: dt.date | None = None) -> None:
    """The officer's proposal on a request (repair or early removal): approve / reject, with the conditions
    only a person can check that they confirm (ids in ``confirmed``)."""
    load_roles().require("propose", who)
    if decision not in ("approve", "reject"):
        raise CreditError("建议只能是批准或不予批准")
    with engine.begin() as conn:
        req = conn.execute(sa.select(R).where(R.c.request_id == request_id)).mappings().first()
        if req is None or req["status"] != "received":
            raise CreditError("该申请不在待办状态")
        checks = json.loads(req["checks"])
        for c in checks:
            if c["by"] == "reviewer":
                c["ok"] = c["id"] in confirmed
                c["by_zh"] = f"经办人{who.user_id}核实"
        if decision == "approve" and not all(c["ok"] for c in checks):
            raise CreditError("尚有修复条件不满足，不能建议批准")
        conn.execute(R.update().where(R.c.request_id == request_id).values(
            proposed_by=who.user_id, proposed_at=wh.now_iso(), proposal=decision, checks=dumps(checks)))
        event(conn, req["subject_id"], f"{req['kind']}_proposed_{decision}", who.user_id, on or _today(),
              basis=request_id)


def approve_repair(engine: sa.Engine, request_id: str, approve: bool, decided_on: dt.date, who: Reviewer,
                   run_key: str, note: str = "") -> str:
    """The approver's decision on the proposal; an approved repair stops publication early."""
    with ledger.ledger_lock(engine), engine.begin() as conn:  # read-decide-write of the ledger row
        req = conn.execute(sa.select(R).where(R.c.request_id == request_id)).mappings().first()
        if req is None or req["status"] != "received" or not req["proposed_by"]:
            raise CreditError("该申请没有待批准的建议")
        load_roles().require_approver(who, req["proposed_by"])
        pen = dict(conn.execute(sa.select(P).where(P.c.penalty_id == req["subject_id"])).mappings().one())
        final = "approved" if approve and req["proposal"] == "approve" else "rejected"
        if final == "approved":
            if pen["status"] != "publicising":
                raise CreditError("该处罚信息已不在公示期内")
            if not _stop_publication(conn, pen, run_key, "信用修复：已纠正失信行为并履行法定义务，经审核同意修复"):
                raise CreditError("该处罚信息的上报尚未完成，请待平台回执后再批准")
            conn.execute(P.update().where(P.c.penalty_id == pen["penalty_id"]).values(
                status="repaired", repaired_on=decided_on.isoformat(), updated_at=wh.now_iso()))
        conn.execute(R.update().where(R.c.request_id == request_id).values(
            status=final, decided_by=who.user_id, decided_on=decided_on.isoformat()))
        event(conn, pen["penalty_id"], f"repair_{final}", who.user_id, decided_on, from_state=pen["status"],
              to_state="repaired" if final == "approved" else pen["status"], basis=request_id, comment=note)
    return final
