"""审核 (层层审核): the review queue with one form per record and level, a decision's post, 立即上报 and 审核记录.

Who may decide at which level is ``review_roles.yaml`` (:mod:`creditflow.reporting.reviewers`); a decision is
recorded in the logged-in user's name (:mod:`creditflow_ui.auth`), the form carries the session's CSRF token;
the rules of a decision (separation of duties, order of levels, stale content) are
:func:`creditflow.reporting.review.record_decision`.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from creditflow.common import KIND_LABELS
from creditflow.core import standard
from fastapi import APIRouter, Depends, Form, HTTPException, Request
from fastapi.responses import HTMLResponse, RedirectResponse

from creditflow_ui import auth, clock
from creditflow_ui.routes import _engine, _kind, render, root_of

router = APIRouter()
_PREVIEW_ORDER = ("_XDR_MC", "_XDR_LB", "_XDR_SHXYM", "_XDR_ZJHM", "_WSH", "_JDRQ", "_CFLB", "_XKLB", "_CSLX", "_NR",
                  "_NR_FK", "_WFXW", "_CFJG", "_XKJG", "_SSJG")


def _preview_lines(kind: str, preview: dict[str, Any]) -> list[tuple[str, Any]]:
    """The fields a reviewer needs first, by their Chinese names (ID numbers already masked)."""
    from creditflow.core import standard

    prefix = standard.PREFIX.get(kind, "")
    names = {f.code: f.name_zh for f in standard.fields(kind)} if kind in standard.KINDS else {}
    out = []
    for suffix in _PREVIEW_ORDER:
        code = prefix + suffix
        if preview.get(code) not in (None, ""):
            out.append((names.get(code, code), preview[code]))
    return out


@router.get("/review", response_class=HTMLResponse)
def review_page(request: Request, kind: str | None = None, user: Any = Depends(auth.current_user),
                today: dt.date = Depends(clock.today)) -> HTMLResponse:
    from creditflow.reporting import review
    from creditflow.reporting.reviewers import load_roster

    kind = _kind(kind)
    roster, who = load_roster(), auth.reviewer_of(user)
    rows = review.pending(_engine(), kind)
    for row in rows:
        row["lines"] = _preview_lines(row["kind"], row["preview"])
        row["blocker"] = review.blocker(row, who, roster)
        decided = (row.get("preview") or {}).get(standard.DECISION_DATE.get(row["kind"], ""))
        row["due"] = clock.due_cell(row["due_date"], decided, today)
    sent = request.query_params.get("sent", "")
    return render(request, "review.html", f"待审核记录（{len(rows)}）", "review", user, rows=rows, kind=kind or "",
                  sent=sent if sent in KIND_LABELS else "", behind=request.query_params.get("behind") == "1")


@router.post("/review/decide")
def review_decide(request: Request, review_key: str = Form(..., pattern="^[a-p]{20}$"), level: int = Form(...),
                  decision: str = Form(...), comment: str = Form("", max_length=500), csrf_token: str = Form(""),
                  user: Any = Depends(auth.current_user)) -> RedirectResponse:
    from creditflow.reporting import review
    from creditflow.reporting.reviewers import load_roster

    auth.check_form(request, csrf_token)
    who, roster = auth.reviewer_of(user), load_roster()
    if not roster.levels_of(who):
        raise HTTPException(403, f"{who.user_id} 只有查看权限，不能作出审核决定")
    engine = _engine()
    try:
        target = review.resolve_key(engine, review_key)
        if target is None:
            raise review.StaleReview("无此待审核记录（可能已审核完毕或已被新版本替代），请刷新审核页面")
        review.record_decision(engine, *target, level, decision, who, comment, source="page", roster=roster)
    except review.NotPermitted as exc:
        raise HTTPException(403, str(exc)) from None
    except review.ReviewError as exc:  # separation of duties, order of levels, decided meanwhile
        raise HTTPException(409, str(exc)) from None
    return RedirectResponse(f"{root_of(request)}/review", status_code=303)


@router.post("/review/send-now")
def review_send_now(request: Request, kind: str = Form(...), csrf_token: str = Form(""),
                    user: Any = Depends(auth.current_user)) -> RedirectResponse:
    """立即上报: a reviewer queues the ordinary run of ``sgs_<kind>`` that sends the approved records now
    (``sendnow.py``: the real pipeline path, recorded with who asked)."""
    from creditflow.reporting.reviewers import load_roster

    from creditflow_ui import sendnow

    auth.check_form(request, csrf_token)
    who = auth.reviewer_of(user)
    if not load_roster().levels_of(who):
        raise HTTPException(403, f"{who.user_id} 不是审核人员，不能请求立即上报")
    chosen = _kind(kind)
    if chosen is None:
        raise HTTPException(422, "请选择要立即上报的类别")
    try:
        _run_id, behind = sendnow.trigger(chosen, who.user_id)
    except sendnow.Refused as exc:
        raise HTTPException(409, str(exc)) from None
    return RedirectResponse(f"{root_of(request)}/review?sent={chosen}{'&behind=1' if behind else ''}",
                            status_code=303)


@router.get("/review/audit", response_class=HTMLResponse)
def audit_page(request: Request, user: Any = Depends(auth.current_user)) -> HTMLResponse:
    from creditflow.reporting import review

    from creditflow_ui import sendnow

    limit = 500
    return render(request, "audit.html", "审核记录", "review/audit", user, rows=review.audit_trail(_engine(), limit),
                  limit=limit, sends=sendnow.requests())
