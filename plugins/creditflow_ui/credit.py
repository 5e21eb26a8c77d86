"""信用管理 pages — the 严重失信名单 cases, 信用修复 and 诚信审核 — under ``/creditflow/credit/``.

Pages (an Airflow login; who may record, propose and approve is ``data/credit/roles.yaml``; one person never
approves their own proposal; every form carries the login session's CSRF token):

* ``credit/`` — cases by state, what waits, alerts; ``credit/case/{id}`` — a case, its timeline, documents and
  the actions the user may take; ``credit/penalties`` and ``credit/penalty/{id}`` — penalties, their
  信用修复告知书 (两书同达) and repair requests; ``credit/doc/{id}.docx|pdf`` — a document, ready to print;
* ``credit/integrity`` — 诚信审核 (single codes, or a bidders' CSV → XLSX); ``credit/impact`` — 处罚前信用影响评估.

The JSON endpoint for other systems is :mod:`creditflow_ui.credit_api`. Login, roles and CSRF are
:mod:`creditflow_ui.auth`; the templates are ``templates/credit/`` in the one site frame; every printed value
passes through :func:`creditflow.common.mask_text`; the logic is ``creditflow.credit``. These pages were a second
plugin app at ``/credit`` until #17; that prefix now redirects here (``creditflow_ui.legacy``).
"""

from __future__ import annotations

import datetime as dt
import hashlib
from typing import Any

from fastapi import APIRouter, Depends, File, Form, HTTPException, Request, UploadFile
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from creditflow_ui import auth, clock
from creditflow_ui.i18n import credit_zh, regime_title
from creditflow_ui.routes import NAV, root_of, templates
from creditflow_ui.state import engine as _engine  # the one engine of the process (creditflow_ui.state)

router = APIRouter(prefix="/credit")


def _root(request: Request) -> str:
    """Where the credit pages live: the app's root + ``/credit`` (their templates' ``root``; ``site`` is the app's)."""
    return f"{root_of(request)}/credit"


def shown(row: dict[str, Any]) -> dict[str, Any]:
    """A case or penalty as a page shows it: a natural person's name (``mask_name``) and ID number masked."""
    from creditflow.credit.store import shown as shown_row

    return shown_row(row)


def _who(user: Any) -> Any:
    return auth.reviewer_of(user)


def page(request: Request, name: str, title: str, active: str, user: Any, status_code: int = 200,
         today: dt.date | None = None, **context: Any) -> HTMLResponse:
    from creditflow.credit.lifecycle import STATES_ZH
    from creditflow.credit.roles import load_roles

    who = _who(user) if user is not None else None
    return templates.TemplateResponse(request, f"credit/{name}", {
        "title": title, "active": f"credit/{active}", "nav": NAV, "root": _root(request), "site": root_of(request),
        "csrf": auth.csrf_token(request),
        "viewer": who, "can": load_roles().actions_of(who) if who else [], "states": STATES_ZH,
        "today": (today or clock.today()).isoformat(), **context}, status_code=status_code)


def _act(request: Request, token: str, back: str, fn: Any, *args: Any, **kwargs: Any) -> RedirectResponse:
    """Run a state-changing action for a form post: CSRF first, then the domain's own checks."""
    from creditflow.core.workdays import CalendarNotCovered
    from creditflow.credit.roles import NotPermitted
    from creditflow.credit.store import CreditError

    auth.check_form(request, token)
    try:
        fn(*args, **kwargs)
    except NotPermitted as exc:
        raise HTTPException(403, str(exc)) from None
    except CalendarNotCovered as exc:  # a deadline in a year without the official schedule: nothing was changed
        raise HTTPException(409, calendar_missing(exc.year)) from None
    except (CreditError, ValueError) as exc:
        raise HTTPException(409, str(exc)) from None
    return RedirectResponse(f"{_root(request)}{back}", status_code=303)


def calendar_missing(year: int) -> str:
    return (f"无法计算期限：系统尚无{year}年的官方节假日安排（国务院办公厅通知），本次操作未办理。"
            f"请管理员补充 data/calendar/{year}.yaml 后再办理。")


def _date(text: str) -> dt.date:
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        raise HTTPException(422, f"日期格式应为YYYY-MM-DD：{text}") from None


# --- 名单案件 ----------------------------------------------------------------------------------------------


@router.get("/", response_class=HTMLResponse)
def index(request: Request, state: str = "", user: Any = Depends(auth.current_user),
          today: dt.date = Depends(clock.today)) -> HTMLResponse:
    import sqlalchemy as sa
    from creditflow.core import warehouse as wh
    from creditflow.credit import rules
    from creditflow.credit.alerts import due_alerts

    C = wh.credit_case
    q = sa.select(C).order_by(C.c.updated_at.desc()).limit(300)
    if state:
        q = q.where(C.c.state == state)
    engine = _engine()
    with engine.connect() as conn:
        cases = [shown(dict(r)) for r in conn.execute(q).mappings()]
        counts = dict(conn.execute(sa.select(C.c.state, sa.func.count()).group_by(C.c.state)).all())  # type: ignore[arg-type]
    return page(request, "index.html", "安全生产严重失信主体名单", "", user, cases=cases, counts=counts, state=state,
                alerts=due_alerts(engine, today), situations=rules.situations())


@router.get("/case/{case_id}", response_class=HTMLResponse)
def case_page(request: Request, case_id: str, user: Any = Depends(auth.current_user),
              today: dt.date = Depends(clock.today)) -> HTMLResponse:

    import sqlalchemy as sa
    from creditflow.core import warehouse as wh
    from creditflow.credit import deadlines, lifecycle, rules
    from creditflow.credit.store import CreditError, events, masked_text

    with _engine().connect() as conn:
        try:
            case = lifecycle.get_case(conn, case_id)
        except CreditError as exc:
            raise HTTPException(404, str(exc)) from None
        name = _person_name(case)
        trail = [_titled_basis(_masked_event(e, name)) for e in events(conn, case_id)]
        objections = [{**r, "content": masked_text(r["content"], name), "resolution": masked_text(r["resolution"], name)
                       if r["resolution"] else None} for r in conn.execute(sa.select(wh.credit_objection).where(
                           wh.credit_objection.c.case_id == case_id)).mappings()]
        requests = _requests_shown(conn, case_id, today)
        shown_case = shown(deadlines.shown(conn, case))  # deadlines beyond the calendar: 待定（…）; a person masked
        dues = _case_due_cells(conn, case, today)
        docs = [dict(r) for r in conn.execute(sa.select(wh.credit_document).where(
            wh.credit_document.c.subject_id == case_id).order_by(wh.credit_document.c.created_at)).mappings()]
    actions = {a: s for a, s in lifecycle.CASE_ACTIONS.items() if case["state"] in s["from"]}
    return page(request, "case.html", f"案件 {case_id}", "", user, case=shown_case, events=trail, objections=objections,
                requests=requests, docs=docs, actions=actions, situation=rules.situation(case["situation_id"]),
                dues=dues, today=today)


def _case_due_cells(conn: Any, case: dict[str, Any], today: dt.date) -> dict[str, dict[str, Any]]:
    """The case's deadlines as due cells on ``today`` (``creditflow_ui.clock.cell``, the 双公示 pages' rule):
    公示时限 until it is published, 复核时限 while the case waits for it, 陈述申辩期 — the party's period, which
    ends (已届满) rather than falls overdue — while the listing decision waits for it; afterwards only the date."""
    from creditflow.credit import deadlines

    state = case.get("state")
    done = {"publication_due": bool(case.get("published_on")) or state != "listed",
            "revisit_due": state != "revisit", "objection_until": state != "notice_delivered"}
    return {column: clock.cell(d, today, done=done[column], lapses=column == "objection_until")
            for column, d in deadlines.case_dues(conn, case).items()}


def _requests_shown(conn: Any, subject_id: str, today: dt.date) -> list[dict[str, Any]]:
    """The requests about a case or penalty, each with its 办结 deadline as a due cell (open while received)."""
    import json

    import sqlalchemy as sa
    from creditflow.core import warehouse as wh
    from creditflow.credit import deadlines

    out = []
    for r in conn.execute(sa.select(wh.credit_request).where(wh.credit_request.c.subject_id == subject_id)).mappings():
        due = clock.cell(deadlines.request_due(conn, dict(r)), today, done=r["status"] != "received")
        out.append(deadlines.shown(conn, dict(r), request=True) | {"checks_list": json.loads(r["checks"] or "[]"),
                                                                  "due": due})
    return out


@router.post("/case/new")
def case_new(request: Request, situation_id: str = Form(...), party_key: str = Form(...), party_name: str = Form(...),
             party_type: str = Form(...), facts: str = Form(..., max_length=4000), basis: str = Form(...),
             csrf_token: str = Form(""), user: Any = Depends(auth.current_user),
             today: dt.date = Depends(clock.today)) -> RedirectResponse:
    from creditflow.credit import lifecycle, rules
    from creditflow.credit.integrity import identify
    from creditflow.credit.roles import load_roles
    from creditflow.credit.store import is_natural, seal_text, stored_party

    def open_manual() -> None:
        load_roles().require("propose", _who(user))
        code, _, error = identify(party_key)
        if error:
            raise ValueError(error)
        cfg = rules.documents_config()
        kind = rules.party_type_of(party_type)
        party = stored_party(kind, code, party_name)  # a natural person: blind index, name and number sealed
        digest = hashlib.sha256(f"{party['party_key']}|{facts}".encode()).hexdigest()[:8]
        case_id = f"SX-{rules.situation(situation_id).id}-M{digest}"
        with _engine().begin() as conn:
            lifecycle.open_case(conn, {"case_id": case_id, "situation_id": situation_id, **party, "party_type": kind,
                                       "facts": seal_text(facts) if is_natural(kind) else facts, "basis": basis,
                                       "source_ref": "manual", "penalty_id": None,
                                       "authority_name": cfg["authority_name"],
                                       "authority_uscc": cfg["authority_uscc"]}, _who(user).user_id, today)

    return _act(request, csrf_token, "/", open_manual)


@router.post("/case/{case_id}/propose")
def case_propose(request: Request, case_id: str, action: str = Form(...), note: str = Form("", max_length=1000),
                 csrf_token: str = Form(""), user: Any = Depends(auth.current_user),
                 today: dt.date = Depends(clock.today)) -> RedirectResponse:
    from creditflow.credit import lifecycle

    return _act(request, csrf_token, f"/case/{case_id}", lifecycle.propose, _engine(), case_id, action, _who(user),
                today, note)


@router.post("/case/{case_id}/approve")
def case_approve(request: Request, case_id: str, accept: str = Form("yes"), note: str = Form("", max_length=1000),
                 csrf_token: str = Form(""), user: Any = Depends(auth.current_user),
                 today: dt.date = Depends(clock.today)) -> RedirectResponse:
    from creditflow.credit import lifecycle

    return _act(request, csrf_token, f"/case/{case_id}", lifecycle.approve, _engine(), case_id, _who(user), today,
                f"credit_page|{today}", accept == "yes", note)


@router.post("/case/{case_id}/record")
def case_record(request: Request, case_id: str, what: str = Form(...), on: str = Form(...),
                text: str = Form("", max_length=2000), csrf_token: str = Form(""),
                user: Any = Depends(auth.current_user)) -> RedirectResponse:
    """One person records a fact: a delivery, an objection (or waiver), an early-removal request."""
    from creditflow.credit import lifecycle

    day, who, engine = _date(on), _who(user), _engine()
    recorders = {
        "notice_delivery": lambda: lifecycle.record_notice_delivery(engine, case_id, day, text or "直接送达", who),
        "decision_delivery": lambda: lifecycle.record_decision_delivery(engine, case_id, day, text or "直接送达", who),
        "objection": lambda: lifecycle.record_objection(engine, case_id, day, text or "（口头陈述）", who),
        "waiver": lambda: lifecycle.record_objection(engine, case_id, day, text or "书面放弃陈述申辩", who,
                                                     waiver=True),
        "removal_request": lambda: lifecycle.record_removal_request(
            engine, case_id, day, {"commitment": "承诺" in text or "commitment" in text, "note": text}, who),
    }
    if what not in recorders:
        raise HTTPException(422, f"未知的登记事项：{what}")
    return _act(request, csrf_token, f"/case/{case_id}", recorders[what])


@router.post("/objection/{objection_id}/resolve")
def objection_resolve(request: Request, objection_id: int, case_id: str = Form(...), upheld: str = Form("no"),
                      resolution: str = Form(..., max_length=1000), csrf_token: str = Form(""),
                      user: Any = Depends(auth.current_user),
                      today: dt.date = Depends(clock.today)) -> RedirectResponse:
    from creditflow.credit import lifecycle

    return _act(request, csrf_token, f"/case/{case_id}", lifecycle.resolve_objection, _engine(), objection_id,
                upheld == "yes", resolution, _who(user), today)


@router.post("/request/{request_id}/{step}")
def request_step(request: Request, request_id: str, step: str, back: str = Form(...), decision: str = Form("approve"),
                 confirmed: list[str] = Form(default=[]), note: str = Form("", max_length=1000),
                 csrf_token: str = Form(""), user: Any = Depends(auth.current_user),
                 today: dt.date = Depends(clock.today)) -> RedirectResponse:
    from creditflow.credit import lifecycle, penalties

    if not back.startswith("/") or back.startswith("//"):
        raise HTTPException(422, "返回地址必须是本系统内的页面")
    engine, who, run_key = _engine(), _who(user), f"credit_page|{today}"
    if step == "propose":
        return _act(request, csrf_token, back, penalties.propose_request, engine, request_id, decision, confirmed, who,
                    today)
    approve = lifecycle.approve_removal if request_id.startswith("YC-") else penalties.approve_repair
    if step == "approve":
        return _act(request, csrf_token, back, approve, engine, request_id, decision == "approve", today, who,
                    run_key, note)
    raise HTTPException(404, "未知的操作")


# --- 处罚与信用修复 ------------------------------------------------------------------------------------------


@router.get("/penalties", response_class=HTMLResponse)
def penalties_page(request: Request, user: Any = Depends(auth.current_user),
                   today: dt.date = Depends(clock.today)) -> HTMLResponse:
    import sqlalchemy as sa
    from creditflow.core import warehouse as wh
    from creditflow.credit import penalties

    P = wh.credit_penalty
    engine = _engine()
    with engine.connect() as conn:
        rows = [shown(dict(r)) for r in conn.execute(sa.select(P).order_by(P.c.decision_date.desc()).limit(300))
                .mappings()]
    return page(request, "penalties.html", "行政处罚信息公示与信用修复", "penalties", user, rows=rows,
                missing=penalties.missing_notices(engine, today))


@router.get("/penalty/{penalty_id}", response_class=HTMLResponse)
def penalty_page(request: Request, penalty_id: str, user: Any = Depends(auth.current_user),
                 today: dt.date = Depends(clock.today)) -> HTMLResponse:

    import sqlalchemy as sa
    from creditflow.core import warehouse as wh
    from creditflow.credit.store import events

    with _engine().connect() as conn:
        pen = conn.execute(sa.select(wh.credit_penalty).where(wh.credit_penalty.c.penalty_id == penalty_id)
                           ).mappings().first()
        if pen is None:
            raise HTTPException(404, "没有该处罚")
        requests = _requests_shown(conn, penalty_id, today)
        name = _person_name(dict(pen))
        trail = [_readable_basis(_masked_event(e, name)) for e in events(conn, penalty_id)]
    return page(request, "penalty.html", f"处罚 {pen['doc_no']}", "penalties", user, pen=shown(dict(pen)),
                requests=requests, events=trail, today=today)


def _person_name(row: dict[str, Any]) -> str | None:
    """A natural person's clear name, only to mask it wherever a free text about them repeats it (#19 §3)."""
    from creditflow.credit.store import is_natural, opened

    return (opened(row)["party_name"] or None) if is_natural(row.get("party_type")) else None


def _masked_event(event: dict[str, Any], name: str | None) -> dict[str, Any]:
    from creditflow.credit.store import masked_text

    return {**event, "comment": masked_text(event["comment"], name) if event.get("comment") else event.get("comment")}


def _titled_basis(event: dict[str, Any]) -> dict[str, Any]:
    """A case event's basis as written before the regulation's title was used (``mem_order_11 列入前书面告知…``,
    ``mem_order_11；管理期限3年``): its leading rule id shown as the regulation's (or regime's) Chinese title."""
    from creditflow.credit import rules

    basis = str(event.get("basis") or "")
    head = basis.split(" ", 1)[0].split("；", 1)[0]
    regulation = rules.listing()["regulation"]
    title = regulation["title_zh"] if head == regulation["id"] else regime_title(head) if head else head
    return {**event, "basis": title + basis[len(head):]} if head and title != head else event


def _readable_basis(event: dict[str, Any]) -> dict[str, Any]:
    """The tracking event's basis is ``<regime id> / <class>`` (penalties.track): shown as the regime's title
    and the class in Chinese."""
    regime_id, sep, klass = str(event.get("basis") or "").partition(" / ")
    if event.get("action") == "tracked" and sep:
        return {**event, "basis": f"{regime_title(regime_id)}，类别：{credit_zh(klass, 'penalty_class')}"}
    return event


@router.post("/penalty/{penalty_id}/record")
def penalty_record(request: Request, penalty_id: str, what: str = Form(...), on: str = Form(...),
                   text: str = Form("", max_length=2000), commitment: str = Form(""), csrf_token: str = Form(""),
                   user: Any = Depends(auth.current_user)) -> RedirectResponse:
    from creditflow.credit import penalties

    day, who, engine = _date(on), _who(user), _engine()
    if what == "notice_delivery":
        return _act(request, csrf_token, f"/penalty/{penalty_id}", penalties.record_notice_delivery, engine,
                    penalty_id, day, text or "与处罚决定书同时送达", who)
    if what == "repair_request":
        return _act(request, csrf_token, f"/penalty/{penalty_id}", penalties.record_repair_request, engine,
                    penalty_id, day, {"commitment": commitment == "yes", "note": text}, who)
    raise HTTPException(422, f"未知的登记事项：{what}")


@router.get("/doc/{doc_id}.{fmt}")
def document(doc_id: str, fmt: str, user: Any = Depends(auth.current_user)) -> Response:
    from creditflow.credit import documents, render

    with _engine().connect() as conn:
        doc = documents.load(conn, doc_id)
    if doc is None or fmt not in ("docx", "pdf"):
        raise HTTPException(404, "没有该文书")
    data, media = render.render(doc["body"], fmt)
    name = f"{doc['doc_type']}-{doc['issued_on']}.{fmt}"
    return Response(data, media_type=media, headers={"Content-Disposition": f'attachment; filename="{name}"'})


# --- 诚信审核 and 影响评估 -----------------------------------------------------------------------------------


@router.get("/integrity", response_class=HTMLResponse)
def integrity_page(request: Request, user: Any = Depends(auth.current_user)) -> HTMLResponse:
    from creditflow.credit import rules

    return page(request, "integrity.html", "诚信审核", "integrity", user, answers=None,
                purposes=rules.integrity_policy()["purposes"], codes="")


@router.post("/integrity", response_class=HTMLResponse)
def integrity_check(request: Request, codes: str = Form(..., max_length=20000), purpose: str = Form(""),
                    csrf_token: str = Form(""), user: Any = Depends(auth.current_user)) -> HTMLResponse:
    from creditflow.credit import integrity, rules

    auth.check_form(request, csrf_token)
    wanted = [c for c in codes.replace(",", "\n").split() if c.strip()][:200]
    answers = integrity.check(_engine(), wanted, asked_by=_who(user).user_id, channel="page", purpose=purpose or None)
    return page(request, "integrity.html", "诚信审核", "integrity", user, answers=answers,
                purposes=rules.integrity_policy()["purposes"], codes="")


@router.post("/integrity/batch")
def integrity_batch(request: Request, file: UploadFile = File(...), purpose: str = Form(""),
                    csrf_token: str = Form(""), user: Any = Depends(auth.current_user),
                    today: dt.date = Depends(clock.today)) -> Response:
    from creditflow.credit import integrity

    auth.check_form(request, csrf_token)
    try:
        rows = integrity.read_parties_csv(file.file.read(5_000_000))
    except (ValueError, UnicodeDecodeError) as exc:
        raise HTTPException(422, f"无法读取名单：{exc}") from None
    answers = integrity.check(_engine(), [r["code"] for r in rows], asked_by=_who(user).user_id, channel="batch",
                              purpose=purpose or None)
    return Response(integrity.to_xlsx(rows, answers),
                    media_type="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
                    headers={"Content-Disposition": f'attachment; filename="integrity-{today}.xlsx"'})


@router.get("/impact", response_class=HTMLResponse)
def impact_page(request: Request, categories: str = "", amount: str = "", decided: str = "", party_type: str = "legal",
                party: str = "", violation: str = "", user: Any = Depends(auth.current_user),
                today: dt.date = Depends(clock.today)) -> HTMLResponse:
    from creditflow.core import standard
    from creditflow.credit import impact, rules

    result, error = None, None
    if categories:
        try:
            draft = impact.Draft(categories=[c for c in categories.replace("，", ",").split(",") if c.strip()],
                                 decided=_date(decided or today.isoformat()),
                                 party_type=rules.party_type_of(party_type),
                                 amount_yuan=float(amount) if amount else None, party=party or None,
                                 violation=violation or None)
            result = impact.preview(draft, _engine() if party else None)
        except (ValueError, rules.NoRuleInForce) as exc:
            error = str(exc)
    return page(request, "impact.html", "处罚前信用影响评估", "impact", user, result=result, error=error,
                form={"categories": categories, "amount": amount, "decided": decided or today.isoformat(),
                      "party_type": party_type, "party": party, "violation": violation},
                known=standard.enum_values("CF_CFLB"))
