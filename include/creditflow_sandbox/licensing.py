"""Sandbox of the bureau's 行政审批系统 (licensing system): an HTTP JSON API with its own field names.

* ``POST /api/auth/token`` — ``{"client_id", "client_secret"}`` → ``{"token", "expires_in"}``.
* ``GET /api/v1/licences?updated_since=ISO&page=1&page_size=200`` (``Authorization: Bearer``) →
  ``{"items": [...], "page", "page_size", "total", "total_pages"}``, ordered by ``updatedAt, id``.
* ``POST /admin/licences`` (``X-Admin-Token``) bulk-loads records (the generator writes the DB directly).
* Fault knobs as in the platform sandbox (``POST /admin/faults``), plus ``slow_page_ms``.

Item shape (the system's own names, not the 双公示 ones)::

    {"id": "L000123", "approvalNo": "珠应急危化经字〔2026〕0012号", "docName": "...",
     "licenceType": "COMMON|SPECIAL|RECOGNITION|APPROVAL|REGISTRATION|OTHER", "certName": "...",
     "certNo": "...", "scope": "...", "decidedOn": "2026-11-02", "validFrom": "...", "validTo": "...",
     "state": "VALID|INVALID", "holder": {"kind": "ORG|PERSON|INDIVIDUAL_BUSINESS", "name": "...",
     "uscc": "...", "legalRep": "...", "idType": "...", "idNo": "..."}, "updatedAt": "2026-11-02T10:00:00+08:00"}
"""

from __future__ import annotations

import asyncio
import json
import os
import secrets
import time
from typing import Any

import sqlalchemy as sa
from fastapi import Body, Depends, FastAPI, Header, HTTPException, Request
from fastapi.responses import JSONResponse

from creditflow_sandbox.faults import FaultInjector, FaultMiddleware

metadata = sa.MetaData()
licences = sa.Table(
    "ls_licence", metadata,
    sa.Column("id", sa.String(40), primary_key=True),
    sa.Column("updated_at", sa.String(40), nullable=False, index=True),  # ISO with offset, sortable
    sa.Column("payload", sa.Text, nullable=False),
)
ls_tokens = sa.Table("ls_token", metadata,
                     sa.Column("token", sa.String(64), primary_key=True),
                     sa.Column("expires_at", sa.Float, nullable=False))


def upsert_licences(engine: sa.Engine, items: list[dict[str, Any]]) -> int:
    """Insert or replace licences (used by the admin endpoint and the generator)."""
    metadata.create_all(engine)
    with engine.begin() as conn:
        ids = [i["id"] for i in items]
        for chunk_start in range(0, len(ids), 500):
            conn.execute(licences.delete().where(licences.c.id.in_(ids[chunk_start:chunk_start + 500])))
        if items:
            conn.execute(licences.insert(), [
                {"id": i["id"], "updated_at": i["updatedAt"], "payload": json.dumps(i, ensure_ascii=False)}
                for i in items])
    return len(items)


def create_app(db_url: str | None = None, clients: dict[str, str] | None = None,
               admin_token: str | None = None) -> FastAPI:
    from creditflow.core.warehouse import engine_from_url

    engine = engine_from_url(db_url or os.environ.get("LICENSING_DB_URL") or "sqlite:///var/licensing.sqlite")
    metadata.create_all(engine)
    if clients is None:
        clients = dict(pair.split(":", 1) for pair in
                       os.environ.get("LICENSING_CLIENTS", "creditflow:demo-licensing").split(","))
    admin = admin_token or os.environ.get("LICENSING_ADMIN_TOKEN", "sandbox-admin")
    injector = FaultInjector()
    extra = {"slow_page_ms": 0, "token_ttl": 3600.0}

    app = FastAPI(title="行政审批系统 — sandbox", version="1.0", description=__doc__)
    app.add_middleware(FaultMiddleware, injector=injector)
    app.state.engine = engine

    @app.exception_handler(HTTPException)
    async def _http_error(request: Request, exc: HTTPException) -> JSONResponse:
        detail = exc.detail if isinstance(exc.detail, dict) else {"error": str(exc.detail)}
        return JSONResponse(detail, status_code=exc.status_code)

    def require_token(authorization: str = Header(default="")) -> None:
        token = authorization[7:].strip() if authorization.lower().startswith("bearer ") else ""
        with engine.connect() as conn:
            row = conn.execute(sa.select(ls_tokens).where(ls_tokens.c.token == token)).first()
        if row is None or row.expires_at < time.time():
            raise HTTPException(401, {"error": "invalid_token"})

    def require_admin(x_admin_token: str = Header(default="")) -> None:
        if not secrets.compare_digest(x_admin_token, admin):
            raise HTTPException(403, {"error": "forbidden"})

    @app.post("/api/auth/token")
    def token(body: dict[str, Any] = Body(...)) -> dict[str, Any]:
        cid, secret = str(body.get("client_id", "")), str(body.get("client_secret", ""))
        if cid not in clients or not secrets.compare_digest(clients[cid], secret):
            raise HTTPException(401, {"error": "invalid_client"})
        tok = secrets.token_hex(20)
        with engine.begin() as conn:
            conn.execute(ls_tokens.insert().values(token=tok, expires_at=time.time() + extra["token_ttl"]))
        return {"token": tok, "expires_in": extra["token_ttl"]}

    @app.get("/api/v1/licences", dependencies=[Depends(require_token)])
    async def list_licences(updated_since: str | None = None, updated_before: str | None = None,
                            page: int = 1, page_size: int = 200) -> dict[str, Any]:
        if page < 1 or not 1 <= page_size <= 1000:
            raise HTTPException(422, {"error": "bad_paging"})
        if extra["slow_page_ms"]:
            await asyncio.sleep(extra["slow_page_ms"] / 1000)
        q = sa.select(licences.c.payload)
        count = sa.select(sa.func.count()).select_from(licences)
        if updated_since:
            q = q.where(licences.c.updated_at >= updated_since)
            count = count.where(licences.c.updated_at >= updated_since)
        if updated_before:
            q = q.where(licences.c.updated_at < updated_before)
            count = count.where(licences.c.updated_at < updated_before)
        q = q.order_by(licences.c.updated_at, licences.c.id).offset((page - 1) * page_size).limit(page_size)
        with engine.connect() as conn:
            total = conn.execute(count).scalar_one()
            items = [json.loads(r.payload) for r in conn.execute(q)]
        return {"items": items, "page": page, "page_size": page_size, "total": total,
                "total_pages": max(1, -(-total // page_size))}

    @app.post("/admin/licences", dependencies=[Depends(require_admin)])
    def load(body: dict[str, Any] = Body(...)) -> dict[str, int]:
        return {"loaded": upsert_licences(engine, list(body.get("items") or []))}

    @app.post("/admin/faults", dependencies=[Depends(require_admin)])
    def faults(body: dict[str, Any] = Body(...)) -> dict[str, Any]:
        for key in ("slow_page_ms", "token_ttl"):
            if key in body:
                extra[key] = body.pop(key)
        try:
            injector.update(body)
        except (TypeError, ValueError) as exc:
            raise HTTPException(422, {"error": str(exc)}) from None
        return {**injector.config.__dict__, **extra}

    @app.post("/admin/reset", dependencies=[Depends(require_admin)])
    def reset() -> dict[str, str]:
        injector.reset()
        with engine.begin() as conn:
            conn.execute(licences.delete())
        return {"status": "reset"}

    @app.get("/health")
    def health() -> dict[str, str]:
        return {"status": "ok"}

    return app
