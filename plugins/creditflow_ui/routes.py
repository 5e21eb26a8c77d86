"""The 双公示 pages (运行概况, 问题数据, 数据质量报告, /api/summary) and the app's one Jinja2 environment (``render``;
every router renders through it, templates in ``templates/``).

Every route depends on :func:`creditflow_ui.auth.current_user` (an Airflow login). Every ``{{ … }}`` a
template prints passes through :func:`creditflow.common.mask_text` (the environment's ``finalize``), so
no page shows a full resident ID number, whatever a field holds.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import jinja2
from creditflow.common import KIND_LABELS, TZ, mask_text
from creditflow.core import standard
from fastapi import APIRouter, Depends, HTTPException, Request
from fastapi.responses import HTMLResponse, RedirectResponse
from fastapi.templating import Jinja2Templates
from markupsafe import Markup

from creditflow_ui import auth, clock, quality, state
from creditflow_ui.i18n import credit_zh, regime_title

HERE = Path(__file__).resolve().parent
#: The one site menu (paths under the app's root): the 双公示 pages, then the credit pages (``credit.py``).
NAV = (("dashboard", "数据看板"), ("", "运行概况"), ("review", "审核"), ("review/audit", "审核记录"),
       ("quarantine", "问题数据"), ("quality", "数据质量报告"), ("check", "区县自查"),
       ("credit/", "失信名单案件"), ("credit/penalties", "处罚与信用修复"), ("credit/integrity", "诚信审核"),
       ("credit/impact", "处罚前信用影响评估"))
OPS = {"create": "新增", "correct": "更正", "withdraw": "撤销"}
SEVERITIES = {"error": "错误", "warning": "提示", "info": "信息"}


def _finalize(value: Any) -> Any:
    if isinstance(value, Markup):  # markup built by the plugin (the dashboard's SVG charts): masked, kept markup
        return Markup(mask_text(value))
    return mask_text(value) if isinstance(value, str) else value


def _local(value: Any) -> str:
    """An ISO timestamp (UTC in the warehouse) as local time for a clerk: 2026-11-28 19:40."""
    if not value:
        return "—"
    try:
        moment = dt.datetime.fromisoformat(str(value))
    except ValueError:
        return str(value)
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=dt.UTC)
    return moment.astimezone(TZ).strftime("%Y-%m-%d %H:%M")


_env = jinja2.Environment(loader=jinja2.FileSystemLoader(HERE / "templates"), autoescape=True,
                          finalize=_finalize, undefined=jinja2.StrictUndefined)
_env.filters["local"] = _local
_env.filters["zh"] = credit_zh  # every state, action and status token a credit page prints
_env.filters["regime"] = regime_title
templates = Jinja2Templates(env=_env)
router = APIRouter()


def _engine() -> Any:
    return state.engine()  # one engine (one pool) for the process, not one per request


def root_of(request: Request) -> str:
    """Where this app is mounted (``/creditflow``, under the API server's base path if it has one)."""
    return str(request.scope.get("root_path", "")).rstrip("/")


def render(request: Request, name: str, title: str, active: str, user: Any = None, status_code: int = 200,
           **context: Any) -> HTMLResponse:
    from creditflow.reporting import review
    from creditflow.reporting.reviewers import load_roster

    roster = load_roster()
    viewer = auth.reviewer_of(user) if user is not None else None
    return templates.TemplateResponse(request, name, {
        "title": title, "active": active, "nav": NAV, "root": root_of(request), "site": root_of(request),
        "kinds": KIND_LABELS,
        "roster": roster, "viewer": viewer, "viewer_levels": roster.levels_of(viewer) if viewer else [],
        "decisions": review.DECISIONS, "reasons": review.REASONS, "sources": review.SOURCES, "ops": OPS,
        "severities": SEVERITIES, "csrf": auth.csrf_token(request), **context}, status_code=status_code)


def _kind(kind: str | None) -> str | None:
    if kind in (None, ""):
        return None
    if kind not in KIND_LABELS:
        raise HTTPException(404, f"未知的类别：{kind}")
    return kind


@router.get("/", response_class=HTMLResponse)
def overview(request: Request, user: Any = Depends(auth.current_user)) -> HTMLResponse:

    rows = reconciliations(_engine())
    columns = ("数据日期", "类别", "对账时间", "", "抽取", "已上报", "问题数据", "待审核", "无变化", "重复", "逾期",
               "临期", "退回文件", "对账")
    return render(request, "overview.html", "双公示运行概况", "", user, rows=rows, columns=columns)


def reconciliations(engine: Any, limit: int = 90) -> list[dict[str, Any]]:
    """The latest ``limit`` runs, newest day first, each with its latest reconciliation and under it the
    earlier ones (``earlier``, newest first): a re-run adds a reconciliation and keeps the originals."""
    import sqlalchemy as sa
    from creditflow.core import warehouse as wh

    s = wh.run_summary
    with engine.connect() as conn:
        rows = [dict(r) for r in conn.execute(sa.select(s).where(wh.latest_summaries())
                                              .order_by(s.c.interval_start.desc(), s.c.kind).limit(limit)).mappings()]
        earlier: dict[tuple[str, str], list[dict[str, Any]]] = {}
        keys = sorted({r["run_key"] for r in rows})
        for i in range(0, len(keys), 500):
            for r in conn.execute(sa.select(s).where(s.c.run_key.in_(keys[i:i + 500]), s.c.id.not_in(
                    [x["id"] for x in rows])).order_by(s.c.id.desc())).mappings():
                earlier.setdefault((r["run_key"], r["kind"]), []).append(dict(r))
    for row in rows:
        row["earlier"] = earlier.get((row["run_key"], row["kind"]), [])
    return rows


@router.get("/quarantine", response_class=HTMLResponse)
def quarantine(request: Request, kind: str | None = None, user: Any = Depends(auth.current_user),
               today: dt.date = Depends(clock.today)) -> HTMLResponse:
    import sqlalchemy as sa
    from creditflow.core import warehouse as wh

    kind = _kind(kind)
    o, f = wh.outcomes, wh.findings
    s = wh.standardised
    q = (sa.select(o.c.record_id, o.c.kind, o.c.run_key, o.c.due_date, f.c.field, f.c.rule_id, f.c.message_zh,
                   s.c.decision_date)
         .join(f, sa.and_(f.c.run_key == o.c.run_key, f.c.record_id == o.c.record_id))
         .join(s, sa.and_(s.c.run_key == o.c.run_key, s.c.record_id == o.c.record_id), isouter=True)
         .where(o.c.outcome == "quarantined", f.c.severity == "error").order_by(o.c.run_key.desc()).limit(500))
    if kind:
        q = q.where(o.c.kind == kind)
    with _engine().connect() as conn:
        rows = conn.execute(q).mappings().all()
        latest = dict(conn.execute(sa.select(o.c.record_id, sa.func.max(o.c.run_key)).group_by(o.c.record_id)).all())
        rows = [dict(r) | {"due": clock.due_cell(r["due_date"], r["decision_date"], today)}
                for r in rows if latest.get(r["record_id"]) == r["run_key"]]  # still in quarantine now
        identify(conn, rows)
    return render(request, "quarantine.html", "问题数据（隔离区）", "quarantine", user, rows=rows)


def identify(conn: Any, rows: list[dict[str, Any]]) -> None:
    """What a clerk knows a record by, added to each row: ``doc_no`` (文号), ``party`` (name and code — an ID
    number masked with :func:`creditflow.common.mask_id`, a USCC in full) and ``who`` (承办科室 and who must
    act: ``creditflow.feedback.details``, the rule of ``data/reports/organisation.yaml`` the reports use)."""
    import json

    import sqlalchemy as sa
    from creditflow.core import pii
    from creditflow.core import warehouse as wh
    from creditflow.feedback import details

    st, std = wh.staging, wh.standardised
    pairs = {(r["run_key"], r["record_id"]) for r in rows}
    found: dict[tuple[str, str], dict[str, Any]] = {}
    for run_key in sorted({k for k, _ in pairs}):
        ids = sorted(i for k, i in pairs if k == run_key)
        for start in range(0, len(ids), 400):
            q = (sa.select(st.c.record_id, st.c.source_system, st.c.lineage, st.c.raw_payload, std.c.payload)
                 .select_from(st.outerjoin(std, sa.and_(std.c.run_key == st.c.run_key,
                                                        std.c.record_id == st.c.record_id)))
                 .where(st.c.run_key == run_key, st.c.record_id.in_(ids[start:start + 400])))
            for row in conn.execute(q).mappings():
                found[(run_key, row["record_id"])] = dict(row)
    rules_of: dict[tuple[str, str], list[str]] = {}
    for r in rows:
        rules_of.setdefault((r["run_key"], r["record_id"]), []).append(str(r["rule_id"]))
    for r in rows:
        src = found.get((r["run_key"], r["record_id"]), {})
        # Sealed personal values opened and masked at once (#19 §3): a person's name and ID number masked.
        payload = pii.masked(_json_dict(json, src.get("payload")), r["kind"])
        raw = _json_dict(json, src.get("raw_payload"))
        prefix, source = standard.PREFIX.get(r["kind"], ""), str(src.get("source_system") or "")
        uscc, id_no = payload.get(f"{prefix}_XDR_SHXYM"), payload.get(f"{prefix}_XDR_ZJHM")
        code = mask_text(uscc) if uscc else id_no or ""
        r["doc_no"] = payload.get(f"{prefix}_WSH") or "—"
        r["party"] = " ".join(str(x) for x in (payload.get(f"{prefix}_XDR_MC"), code) if x) or "—"
        if not source:
            r["department"], r["who"] = "—", "—"
            continue
        r["department"], r["who"] = details.responsible(source, raw, str(src.get("lineage") or ""), payload,
                                                        r["kind"], rules_of[(r["run_key"], r["record_id"])])


def _json_dict(json: Any, text: Any) -> dict[str, Any]:
    try:
        value = json.loads(text) if text else {}
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}


def _gx_root() -> Any:
    """The storage's gx area: where every worker published its validation results (local or object storage)."""
    from creditflow_airflow.hooks import storage

    return storage("gx")


@router.get("/quality", response_class=HTMLResponse)
def quality_index(request: Request, kind: str = "penalty", user: Any = Depends(auth.current_user)) -> HTMLResponse:
    kind = _kind(kind) or "penalty"
    runs = quality.list_runs(_gx_root(), kind)
    return render(request, "quality_index.html", f"数据质量报告 · {KIND_LABELS[kind]}", "quality", user,
                  runs=runs, kind=kind)


@router.get("/quality/{kind}/{run_name}", response_class=HTMLResponse)
def quality_run(request: Request, kind: str, run_name: str, user: Any = Depends(auth.current_user)) -> HTMLResponse:
    kind = _kind(kind) or "penalty"
    run = quality.load_run(_gx_root(), kind, run_name)
    if run is None:
        raise HTTPException(404, "没有这次校验的结果")
    return render(request, "quality_run.html", f"数据质量报告 · {KIND_LABELS[kind]} · {run.data_date}", "quality",
                  user, run=run)


@router.get("/data-docs/{kind}/{path:path}")
def data_docs(request: Request, kind: str, path: str = "", user: Any = Depends(auth.current_user)) -> RedirectResponse:
    """Old links to GX's Data Docs (which need public CDNs) lead to our own report."""
    kind = _kind(kind) or "penalty"
    return RedirectResponse(f"{root_of(request)}/quality?kind={kind}", status_code=307)


@router.get("/api/summary")
def api_summary(user: Any = Depends(auth.current_user)) -> list[dict[str, Any]]:
    import sqlalchemy as sa
    from creditflow.core import warehouse as wh

    with _engine().connect() as conn:
        return [dict(r) for r in conn.execute(sa.select(wh.run_summary).where(wh.latest_summaries()).order_by(
            wh.run_summary.c.interval_start.desc()).limit(200)).mappings()]
