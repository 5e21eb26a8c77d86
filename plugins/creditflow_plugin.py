"""Airflow plugin: the pages a bureau clerk and a data engineer use next to the Airflow UI.

Mounted at ``/creditflow`` in the API server and linked from the UI menu:

* ``/creditflow/`` — 运行概况: per-run reconciliation counts (extracted, uploaded, quarantined, …);
* ``/creditflow/review`` — 审核: the review queue, one form per record and level (层层审核);
* ``/creditflow/quarantine`` — 问题数据: quarantined records with rule and Chinese message;
* ``/creditflow/data-docs/{kind}/`` — Great Expectations Data Docs of the validation runs.

Every page requires an Airflow login (the UI's session token); decisions are recorded in the logged-in
user's name. Natural persons' ID numbers are masked everywhere.
"""

from __future__ import annotations

import html
import re
from typing import Any

from airflow.plugins_manager import AirflowPlugin
from fastapi import Depends, FastAPI, Form, HTTPException, Request
from fastapi.responses import FileResponse, HTMLResponse, RedirectResponse

KINDS = {"penalty": "行政处罚", "license": "行政许可", "coercion": "行政强制"}
REASONS = {"clean": "无问题", "warnings": "有提示", "natural_person": "自然人", "near_duplicate": "疑似重复",
           "correction": "更正", "withdrawal": "撤销"}
OUTCOMES = {"uploaded": "已上报", "quarantined": "问题数据", "awaiting_review": "待审核", "unchanged": "无变化",
            "duplicate": "重复"}
_ID_RE = re.compile(r"\b(\d{6})(\d{8})(\d{3}[\dXx])\b")


async def current_user(request: Request) -> Any:
    """The logged-in Airflow user (the UI's session token cookie, or a bearer token)."""
    from airflow.api_fastapi.auth.managers.base_auth_manager import COOKIE_NAME_JWT_TOKEN
    from airflow.api_fastapi.core_api.security import resolve_user_from_token

    header = request.headers.get("authorization", "")
    token = header[7:] if header.lower().startswith("bearer ") else request.cookies.get(COOKIE_NAME_JWT_TOKEN)
    return await resolve_user_from_token(token)


def _esc(value: Any) -> str:
    text = "" if value is None else str(value)
    text = _ID_RE.sub(lambda m: m.group(0)[:4] + "*" * 10 + m.group(0)[-4:], text)
    return html.escape(text)


def _page(title: str, body: str) -> HTMLResponse:
    links = (("", "运行概况"), ("review", "审核"), ("quarantine", "问题数据"), ("data-docs/penalty/", "数据质量报告"))
    nav = " · ".join(f'<a href="/creditflow/{p}">{n}</a>' for p, n in links)
    return HTMLResponse(f"""<!doctype html><html lang="zh-CN"><head><meta charset="utf-8"><title>{title}</title>
<style>body{{font-family:system-ui,"Noto Sans CJK SC",sans-serif;margin:1.5rem;color:#222}}
table{{border-collapse:collapse;font-size:13px}}td,th{{border:1px solid #ccc;padding:3px 6px;vertical-align:top}}
th{{background:#f3f5f7}}.bad{{color:#b00020}}.ok{{color:#1b7f3b}}form{{display:inline}}
nav{{margin-bottom:1rem}} code{{font-size:12px}}</style></head>
<body><nav>creditflow · {nav}</nav><h2>{title}</h2>{body}</body></html>""")


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


def _engine() -> Any:
    from creditflow_hooks import warehouse_engine

    return warehouse_engine()


app = FastAPI(title="creditflow", docs_url=None, redoc_url=None)


@app.get("/", response_class=HTMLResponse)
def overview(user: Any = Depends(current_user)) -> HTMLResponse:
    import sqlalchemy as sa
    from creditflow.core import warehouse as wh

    with _engine().connect() as conn:
        rows = conn.execute(sa.select(wh.run_summary).order_by(wh.run_summary.c.interval_start.desc(),
                                                                 wh.run_summary.c.kind).limit(90)).mappings().all()
    cells = "".join(
        f"<tr><td>{_esc(r['interval_start'][:10])}</td><td>{KINDS.get(r['kind'], r['kind'])}</td>"
        f"<td>{r['extracted']}</td><td>{r['uploaded']}</td><td>{r['quarantined']}</td><td>{r['awaiting_review']}</td>"
        f"<td>{r['unchanged']}</td><td>{r['duplicates']}</td><td>{r['late']}</td>"
        f"<td class='{'bad' if r['due_soon'] else ''}'>{r['due_soon']}</td><td>{r['rejected_files']}</td>"
        f"<td class='{'ok' if r['reconciled'] else 'bad'}'>{'✓' if r['reconciled'] else '✗'}</td></tr>" for r in rows)
    columns = ("数据日期", "类别", "抽取", "已上报", "问题数据", "待审核", "无变化", "重复", "逾期", "临期",
               "退回文件", "对账")
    head = "".join(f"<th>{h}</th>" for h in columns)
    return _page("双公示运行概况", f"<table><tr>{head}</tr>{cells}</table>")


@app.get("/review", response_class=HTMLResponse)
def review_page(kind: str | None = None, user: Any = Depends(current_user)) -> HTMLResponse:
    from creditflow.reporting import review

    rows = review.pending(_engine(), kind)
    out = []
    for r in rows:
        fields = "<br>".join(f"{_esc(name)}：{_esc(value)}" for name, value in _preview_lines(r["kind"], r["preview"]))
        done = "<br>".join(f"第{d['level']}级 {_esc(d['decision'])} — {_esc(d['reviewer'])} {_esc(d['decided_at'])}"
                           for d in r["decisions"]) or "—"
        level = r["next_level"]
        buttons = ""
        if level:
            for decision, label in (("approve", "通过"), ("reject", "退回"), ("duplicate", "确认重复")):
                if decision == "duplicate" and r["reason"] != "near_duplicate":
                    continue
                buttons += (f'<form method="post" action="/creditflow/review/decide">'
                            f'<input type="hidden" name="record_id" value="{_esc(r["record_id"])}">'
                            f'<input type="hidden" name="content_hash" value="{r["content_hash"]}">'
                            f'<input type="hidden" name="op" value="{r["op"]}"><input type="hidden" name="level" '
                            f'value="{level}"><input type="hidden" name="decision" value="{decision}">'
                            f'<input name="comment" placeholder="意见" size="8"><button>{label}</button></form> ')
        out.append(f"<tr><td>{KINDS.get(r['kind'], r['kind'])}<br><code>{_esc(r['record_id'])}</code></td>"
                   f"<td>{REASONS.get(r['reason'], r['reason'])} / {r['op']}<br>{_esc(r['related_record'] or '')}</td>"
                   f"<td>{_esc(r['due_date'])}</td><td>{fields}</td><td>{done}</td>"
                   f"<td>{'第' + str(level) + '级：' if level else ''}{buttons}</td></tr>")
    return _page(f"待审核记录（{len(rows)}）", "<p>层层审核：第1级 经办科室，第2级 法规科。批量签署请触发 "
                 "<code>sgs_review_signoff</code>。</p><table><tr><th>记录</th><th>原因/操作</th><th>截止日期</th>"
                 f"<th>内容（证件号已脱敏）</th><th>已审核</th><th>审核</th></tr>{''.join(out)}</table>")


@app.post("/review/decide")
def review_decide(record_id: str = Form(...), content_hash: str = Form(...), op: str = Form(...),
                  level: int = Form(...), decision: str = Form(...), comment: str = Form(""),
                  user: Any = Depends(current_user)) -> RedirectResponse:
    from creditflow.reporting import review

    try:
        review.record_decision(_engine(), record_id, content_hash, op, level, decision, user.get_name(), comment)
    except review.ReviewError as exc:
        raise HTTPException(409, str(exc)) from None
    return RedirectResponse("/creditflow/review", status_code=303)


@app.get("/quarantine", response_class=HTMLResponse)
def quarantine(kind: str | None = None, user: Any = Depends(current_user)) -> HTMLResponse:
    import sqlalchemy as sa
    from creditflow.core import warehouse as wh

    o, f = wh.outcomes, wh.findings
    q = (sa.select(o.c.record_id, o.c.kind, o.c.run_key, o.c.due_date, f.c.field, f.c.rule_id, f.c.message_zh)
         .join(f, sa.and_(f.c.run_key == o.c.run_key, f.c.record_id == o.c.record_id))
         .where(o.c.outcome == "quarantined", f.c.severity == "error").order_by(o.c.run_key.desc()).limit(500))
    if kind:
        q = q.where(o.c.kind == kind)
    with _engine().connect() as conn:
        rows = conn.execute(q).mappings().all()
        latest = dict(conn.execute(sa.select(o.c.record_id, sa.func.max(o.c.run_key)).group_by(o.c.record_id)).all())
    rows = [r for r in rows if latest.get(r["record_id"]) == r["run_key"]]  # still in quarantine now
    cells = "".join(f"<tr><td>{_esc(r['run_key'].split('|')[-1])}</td><td>{KINDS.get(r['kind'], r['kind'])}</td>"
                    f"<td><code>{_esc(r['record_id'])}</code></td><td>{_esc(r['field'])}</td><td>{_esc(r['rule_id'])}</td>"
                    f"<td>{_esc(r['message_zh'])}</td><td>{_esc(r['due_date'])}</td></tr>" for r in rows)
    head = "".join(f"<th>{h}</th>" for h in ("数据日期", "类别", "记录", "字段", "规则", "说明", "截止日期"))
    return _page("问题数据（隔离区）", "<p>修正源系统中的数据后，下一次运行会自动重新校验并上报。</p>"
                 f"<table><tr>{head}</tr>{cells}</table>")


@app.get("/data-docs/{kind}/{path:path}")
def data_docs(kind: str, path: str = "", user: Any = Depends(current_user)) -> Any:
    from creditflow_hooks import gx_dir

    if kind not in KINDS:
        raise HTTPException(404)
    root = (gx_dir() / kind / "gx" / "uncommitted" / "data_docs" / "local_site").resolve()
    target = (root / (path or "index.html")).resolve()
    if not str(target).startswith(str(root)) or not target.is_file():
        if not path:
            return _page("数据质量报告", f"<p>{KINDS[kind]}尚无校验结果。</p>")
        raise HTTPException(404)
    return FileResponse(target)


@app.get("/api/summary")
def api_summary(user: Any = Depends(current_user)) -> list[dict[str, Any]]:
    import sqlalchemy as sa
    from creditflow.core import warehouse as wh

    with _engine().connect() as conn:
        return [dict(r) for r in conn.execute(sa.select(wh.run_summary).order_by(
            wh.run_summary.c.interval_start.desc()).limit(200)).mappings()]


def sgs_due_date(decision_date: str) -> str:
    """Jinja macro: ``{{ macros.creditflow_plugin.sgs_due_date('2026-02-12') }}``."""
    import datetime as dt

    from creditflow.core.rules import sgs_due_date as due

    return due(dt.date.fromisoformat(decision_date)).isoformat()


class CreditflowPlugin(AirflowPlugin):
    name = "creditflow_plugin"
    fastapi_apps = [{"app": app, "url_prefix": "/creditflow", "name": "creditflow"}]  # noqa: RUF012
    external_views = [  # noqa: RUF012
        {"name": "双公示运行概况", "href": "/creditflow/", "destination": "nav", "category": "Creditflow",
         "url_route": "creditflow_overview"},
        {"name": "审核", "href": "/creditflow/review", "destination": "nav", "category": "Creditflow",
         "url_route": "creditflow_review"},
        {"name": "问题数据", "href": "/creditflow/quarantine", "destination": "nav", "category": "Creditflow",
         "url_route": "creditflow_quarantine"},
        {"name": "数据质量报告 (GX)", "href": "/creditflow/data-docs/penalty/", "destination": "nav",
         "category": "Creditflow", "url_route": "creditflow_data_docs"},
    ]
    macros = [sgs_due_date]  # noqa: RUF012

