"""Sandbox of 全国信用信息共享平台(广东珠海): the platform 双公示 records are uploaded to.

Contract (see ``/docs`` for the OpenAPI page):

* ``POST /oauth/token`` — ``{"app_key", "app_secret"}`` → bearer token valid ``token_ttl`` seconds; an
  expired token answers 401 ``TOKEN_EXPIRED``.
* ``POST /api/v1/{kind}/batches`` with an ``Idempotency-Key`` header and ``{"records": [{"op":
  "create"|"correct"|"withdraw", "data": {...}, "reason": "..."}]}`` → 202 ``{"batch_id"}``. The same
  key with the same body replays the first answer; with another body it is 409.
* ``GET /api/v1/batches/{batch_id}`` → ``processing`` until ready, then per-record receipts:
  ``accepted`` or ``rejected`` with a code and a Chinese message.
* ``POST /api/v1/{kind}/records/correct`` and ``/withdraw`` — one record by its natural key.
* ``GET /admin/records``, ``/admin/stats``, ``POST /admin/faults``, ``POST /admin/reset`` — for tests
  and checks (``X-Admin-Token``).

A record is identified by its natural key (kind, normalised 文号, party code). Re-sending an identical
record never creates a second one; a different record under an existing key is rejected (``E409``:
use 更正). Server-side checks are the platform's own subset of the standard, written independently of
the pipeline's rules (and with the platform's own quirk: it validates USCCs with python-stdnum, which
rejects A/N/Y prefixes).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import re
import secrets
import threading
import time
from typing import Any

import sqlalchemy as sa
from fastapi import Body, Depends, FastAPI, Header, HTTPException, Request
from fastapi.responses import JSONResponse
from stdnum.cn import uscc as stdnum_uscc

from creditflow_sandbox.faults import FaultInjector, FaultMiddleware

# dishonest_list: 严重失信主体名单 records (creditflow.credit; field codes SX_* [local]).
KINDS = {"penalty": "CF", "license": "XK", "coercion": "QZ", "dishonest_list": "SX"}

metadata = sa.MetaData()
tokens = sa.Table("pf_token", metadata,
                  sa.Column("token", sa.String(64), primary_key=True),
                  sa.Column("app_key", sa.String(64), nullable=False),
                  sa.Column("expires_at", sa.Float, nullable=False))
batches = sa.Table("pf_batch", metadata,
                   sa.Column("batch_id", sa.String(40), primary_key=True),
                   sa.Column("app_key", sa.String(64), nullable=False),
                   sa.Column("kind", sa.String(16), nullable=False),
                   sa.Column("idempotency_key", sa.String(200), nullable=False),
                   sa.Column("request_hash", sa.String(64), nullable=False),
                   sa.Column("record_count", sa.Integer, nullable=False),
                   sa.Column("created_at", sa.Float, nullable=False),
                   sa.Column("ready_at", sa.Float, nullable=False),
                   sa.UniqueConstraint("app_key", "idempotency_key", name="uq_pf_batch_idem"))
receipts = sa.Table("pf_receipt", metadata,
                    sa.Column("batch_id", sa.String(40), primary_key=True),
                    sa.Column("seq", sa.Integer, primary_key=True),
                    sa.Column("natural_key", sa.Text),
                    sa.Column("op", sa.String(16)),
                    sa.Column("status", sa.String(16), nullable=False),
                    sa.Column("code", sa.String(16)),
                    sa.Column("message", sa.Text),
                    sa.Column("record_version", sa.Integer))
records = sa.Table("pf_record", metadata,
                   sa.Column("kind", sa.String(16), primary_key=True),
                   sa.Column("natural_key", sa.String(400), primary_key=True),
                   sa.Column("content_hash", sa.String(64), nullable=False),
                   sa.Column("payload", sa.Text, nullable=False),
                   sa.Column("version", sa.Integer, nullable=False),
                   sa.Column("status", sa.String(16), nullable=False),  # published | withdrawn
                   sa.Column("withdraw_reason", sa.Text),
                   sa.Column("created_at", sa.Float, nullable=False),
                   sa.Column("updated_at", sa.Float, nullable=False))
history = sa.Table("pf_record_history", metadata,
                   sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
                   sa.Column("kind", sa.String(16), nullable=False),
                   sa.Column("natural_key", sa.String(400), nullable=False),
                   sa.Column("op", sa.String(16), nullable=False),
                   sa.Column("version", sa.Integer, nullable=False),
                   sa.Column("batch_id", sa.String(40)),
                   sa.Column("at", sa.Float, nullable=False))


# --- the platform's own checks ----------------------------------------------------------------------

_DATE_RE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
REQUIRED = {
    "penalty": ["CF_XDR_MC", "CF_XDR_LB", "CF_WSH", "CF_CFLB", "CF_NR", "CF_JDRQ", "CF_CFJG", "CF_CFJGDM"],
    "license": ["XK_XDR_MC", "XK_XDR_LB", "XK_WSH", "XK_XKLB", "XK_JDRQ", "XK_YXQZ", "XK_YXQZI", "XK_XKJG",
                "XK_XKJGDM"],
    "coercion": ["QZ_XDR_MC", "QZ_XDR_LB", "QZ_WSH", "QZ_CSLX", "QZ_JDRQ", "QZ_SSJG", "QZ_SSJGDM"],
    "dishonest_list": ["SX_XDR_MC", "SX_XDR_LB", "SX_WSH", "SX_LRYY", "SX_LRYJ", "SX_LRRQ", "SX_YCRQ", "SX_RDJG",
                       "SX_RDJGDM"],
}


def natural_key(kind: str, data: dict[str, Any]) -> str | None:
    p = KINDS[kind]
    doc = str(data.get(f"{p}_WSH") or "")
    doc = re.sub(r"\s", "", doc)
    doc = re.sub(r"[\[【(（［〔]\s*(\d{4})\s*[\]】)）］〕]", r"〔\1〕", doc).upper()
    if str(data.get(f"{p}_XDR_LB")) == "自然人":
        party = str(data.get(f"{p}_XDR_ZJHM") or "")
    else:
        party = str(data.get(f"{p}_XDR_SHXYM") or "")
        if party.upper() == "00000000000000000X":
            party = next((str(data[f"{p}_XDR_{s}"]) for s in ("GSZC", "ZZJG", "SWDJ", "SYDW", "SHZZ")
                          if data.get(f"{p}_XDR_{s}")), party)
    party = party.strip().upper()
    if not doc or not party:
        return None
    return f"{doc}|{party}"


def platform_checks(kind: str, data: dict[str, Any]) -> tuple[str, str] | None:
    """(code, Chinese message) of the first problem, or None."""
    p = KINDS[kind]
    for f in REQUIRED[kind]:
        if data.get(f) in (None, ""):
            return "E101", f"必填项{f}缺失"
    for f, v in data.items():
        if (f.endswith("RQ") or f in ("XK_YXQZ", "XK_YXQZI", "CF_YXQ", "CF_GSJZQ")) and v not in (None, "") \
                and not _DATE_RE.match(str(v)):
            return "E103", f"{f}日期格式应为YYYY-MM-DD"
    category = data.get(f"{p}_XDR_LB")
    if category not in ("法人及非法人组织", "自然人", "个体工商户"):
        return "E104", "行政相对人类别不在代码表中"
    if category == "自然人":
        if not data.get(f"{p}_XDR_ZJHM"):
            return "E101", f"必填项{p}_XDR_ZJHM缺失"
    else:
        code = str(data.get(f"{p}_XDR_SHXYM") or "")
        if code.upper() != "00000000000000000X" and not stdnum_uscc.is_valid(code):
            return "E102", "行政相对人统一社会信用代码校验失败"
    authority = data.get({"penalty": "CF_CFJGDM", "license": "XK_XKJGDM", "coercion": "QZ_SSJGDM",
                          "dishonest_list": "SX_RDJGDM"}[kind])
    if not stdnum_uscc.is_valid(str(authority or "")):
        return "E102", "机关统一社会信用代码校验失败"
    if kind == "penalty" and "罚款" in str(data.get("CF_CFLB") or ""):
        try:
            if float(data.get("CF_NR_FK") or 0) <= 0:
                return "E105", "处罚类别含罚款时罚款金额应大于0"
        except ValueError:
            return "E105", "罚款金额不是数字"
    if natural_key(kind, data) is None:
        return "E106", "无法确定记录标识（文书号或行政相对人代码缺失）"
    return None


def content_hash(data: dict[str, Any]) -> str:
    canonical = json.dumps({k: v for k, v in data.items() if v not in (None, "")}, sort_keys=True,
                           ensure_ascii=False)
    return hashlib.sha256(canonical.encode()).hexdigest()


# --- application ------------------------------------------------------------------------------------


def create_app(db_url: str | None = None, apps: dict[str, str] | None = None,
               token_ttl: float | None = None, processing_seconds: float | None = None,
               admin_token: str | None = None) -> FastAPI:
    from creditflow.core.warehouse import engine_from_url

    engine = engine_from_url(db_url or os.environ.get("PLATFORM_DB_URL") or "sqlite:///var/platform.sqlite")
    metadata.create_all(engine)
    if apps is None:
        apps = dict(pair.split(":", 1) for pair in
                    os.environ.get("PLATFORM_APPS", "creditflow-demo:demo-secret").split(","))
    state = {
        "token_ttl": float(token_ttl if token_ttl is not None else os.environ.get("PLATFORM_TOKEN_TTL", 600)),
        "processing_seconds": float(processing_seconds if processing_seconds is not None
                                    else os.environ.get("PLATFORM_PROCESSING_SECONDS", 0.5)),
    }
    admin = admin_token or os.environ.get("PLATFORM_ADMIN_TOKEN", "sandbox-admin")
    injector = FaultInjector()
    write_lock = threading.Lock()

    app = FastAPI(title="全国信用信息共享平台(广东珠海) — sandbox", version="1.0",
                  description=__doc__)
    app.add_middleware(FaultMiddleware, injector=injector)
    app.state.engine = engine
    app.state.injector = injector

    def require_token(authorization: str = Header(default="")) -> str:
        if not authorization.lower().startswith("bearer "):
            raise HTTPException(401, {"code": "NO_TOKEN", "message": "缺少访问令牌"})
        token = authorization[7:].strip()
        with engine.connect() as conn:
            row = conn.execute(sa.select(tokens).where(tokens.c.token == token)).first()
        if row is None:
            raise HTTPException(401, {"code": "BAD_TOKEN", "message": "访问令牌无效"})
        if row.expires_at < time.time():
            raise HTTPException(401, {"code": "TOKEN_EXPIRED", "message": "访问令牌已过期"})
        return str(row.app_key)

    def require_admin(x_admin_token: str = Header(default="")) -> None:
        if not secrets.compare_digest(x_admin_token, admin):
            raise HTTPException(403, {"code": "FORBIDDEN", "message": "需要管理令牌"})

    @app.exception_handler(HTTPException)
    async def _http_error(request: Request, exc: HTTPException) -> JSONResponse:
        detail = exc.detail if isinstance(exc.detail, dict) else {"code": "ERROR", "message": str(exc.detail)}
        return JSONResponse(detail, status_code=exc.status_code, headers=exc.headers)

    @app.post("/oauth/token", tags=["auth"])
    def issue_token(body: dict[str, Any] = Body(...)) -> dict[str, Any]:
        key, secret = str(body.get("app_key", "")), str(body.get("app_secret", ""))
        if key not in apps or not secrets.compare_digest(apps[key], secret):
            raise HTTPException(401, {"code": "BAD_CREDENTIALS", "message": "应用标识或密钥错误"})
        token = secrets.token_hex(24)
        with write_lock, engine.begin() as conn:
            conn.execute(tokens.insert().values(token=token, app_key=key,
                                                expires_at=time.time() + state["token_ttl"]))
        return {"access_token": token, "token_type": "bearer", "expires_in": state["token_ttl"]}

    def apply_one(conn: sa.Connection, kind: str, op: str, data: dict[str, Any], reason: str | None,
                  batch_id: str | None) -> dict[str, Any]:
        now = time.time()
        nk = natural_key(kind, data)
        if op not in ("create", "correct", "withdraw"):
            return {"natural_key": nk, "status": "rejected", "code": "E100", "message": f"未知操作{op}"}
        if op != "withdraw":
            problem = platform_checks(kind, data)
            if problem:
                return {"natural_key": nk, "status": "rejected", "code": problem[0], "message": problem[1]}
        if nk is None:
            return {"natural_key": None, "status": "rejected", "code": "E106", "message": "无法确定记录标识"}
        row = conn.execute(sa.select(records).where(records.c.kind == kind, records.c.natural_key == nk)).first()
        h = content_hash(data)
        payload = json.dumps(data, ensure_ascii=False, sort_keys=True)
        if op == "create":
            if row is not None and row.status == "published":
                if row.content_hash == h:
                    return {"natural_key": nk, "status": "accepted", "code": "A200",
                            "message": "记录已存在且内容相同，未重复入库", "record_version": row.version}
                return {"natural_key": nk, "status": "rejected", "code": "E409",
                        "message": "同一文书号和行政相对人的记录已存在，请使用更正接口"}
            version = (row.version + 1) if row is not None else 1
            if row is None:
                conn.execute(records.insert().values(kind=kind, natural_key=nk, content_hash=h, payload=payload,
                                                     version=version, status="published", created_at=now,
                                                     updated_at=now))
            else:  # re-publication after a withdrawal
                conn.execute(records.update().where(records.c.kind == kind, records.c.natural_key == nk)
                             .values(content_hash=h, payload=payload, version=version, status="published",
                                     withdraw_reason=None, updated_at=now))
        elif op == "correct":
            if row is None or row.status != "published":
                return {"natural_key": nk, "status": "rejected", "code": "E404",
                        "message": "待更正的记录不存在或已撤销"}
            if row.content_hash == h:
                return {"natural_key": nk, "status": "accepted", "code": "A200",
                        "message": "更正内容与现有记录相同", "record_version": row.version}
            version = row.version + 1
            conn.execute(records.update().where(records.c.kind == kind, records.c.natural_key == nk)
                         .values(content_hash=h, payload=payload, version=version, updated_at=now))
        else:
            if row is None:
                return {"natural_key": nk, "status": "rejected", "code": "E404", "message": "待撤销的记录不存在"}
            if row.status == "withdrawn":
                return {"natural_key": nk, "status": "accepted", "code": "A200", "message": "记录已撤销",
                        "record_version": row.version}
            version = row.version + 1
            conn.execute(records.update().where(records.c.kind == kind, records.c.natural_key == nk)
                         .values(status="withdrawn", withdraw_reason=reason, version=version, updated_at=now))
        conn.execute(history.insert().values(kind=kind, natural_key=nk, op=op, version=version,
                                             batch_id=batch_id, at=now))
        return {"natural_key": nk, "status": "accepted", "code": "A000", "message": "接收成功",
                "record_version": version}

    def _kind(kind: str) -> str:
        if kind not in KINDS:
            raise HTTPException(404, {"code": "NO_KIND", "message": f"未知数据类别{kind}"})
        return kind

    @app.post("/api/v1/{kind}/batches", status_code=202, tags=["upload"])
    def submit_batch(kind: str, body: dict[str, Any] = Body(...),
                     idempotency_key: str = Header(default="", alias="Idempotency-Key"),
                     app_key: str = Depends(require_token)) -> JSONResponse:
        _kind(kind)
        if not idempotency_key:
            raise HTTPException(400, {"code": "NO_IDEMPOTENCY_KEY", "message": "缺少Idempotency-Key"})
        items = body.get("records")
        if not isinstance(items, list) or not items or len(items) > 1000:
            raise HTTPException(422, {"code": "BAD_BATCH", "message": "records应为1至1000条记录的数组"})
        request_hash = hashlib.sha256(json.dumps(body, sort_keys=True, ensure_ascii=False).encode()).hexdigest()
        with write_lock, engine.begin() as conn:
            old = conn.execute(sa.select(batches).where(batches.c.app_key == app_key,
                                                        batches.c.idempotency_key == idempotency_key)).first()
            if old is not None:
                if old.request_hash != request_hash:
                    raise HTTPException(409, {"code": "IDEMPOTENCY_KEY_REUSED",
                                              "message": "同一Idempotency-Key对应的请求内容不同"})
                return JSONResponse({"batch_id": old.batch_id, "status": "processing", "replayed": True},
                                    status_code=202)
            batch_id = "B" + secrets.token_hex(8)
            now = time.time()
            conn.execute(batches.insert().values(batch_id=batch_id, app_key=app_key, kind=kind,
                                                 idempotency_key=idempotency_key, request_hash=request_hash,
                                                 record_count=len(items), created_at=now,
                                                 ready_at=now + state["processing_seconds"]))
            for seq, item in enumerate(items):
                item = item if isinstance(item, dict) else {}
                result = apply_one(conn, kind, str(item.get("op", "create")), dict(item.get("data") or {}),
                                   item.get("reason"), batch_id)
                conn.execute(receipts.insert().values(batch_id=batch_id, seq=seq, op=item.get("op", "create"),
                                                      natural_key=result.get("natural_key"),
                                                      status=result["status"], code=result["code"],
                                                      message=result["message"],
                                                      record_version=result.get("record_version")))
        return JSONResponse({"batch_id": batch_id, "status": "processing", "replayed": False}, status_code=202)

    @app.get("/api/v1/batches/{batch_id}", tags=["upload"])
    def batch_status(batch_id: str, app_key: str = Depends(require_token)) -> dict[str, Any]:
        with engine.connect() as conn:
            b = conn.execute(sa.select(batches).where(batches.c.batch_id == batch_id,
                                                      batches.c.app_key == app_key)).first()
            if b is None:
                raise HTTPException(404, {"code": "NO_BATCH", "message": "批次不存在"})
            if b.ready_at > time.time():
                return {"batch_id": batch_id, "status": "processing", "record_count": b.record_count}
            rows = conn.execute(sa.select(receipts).where(receipts.c.batch_id == batch_id)
                                .order_by(receipts.c.seq)).all()
        return {"batch_id": batch_id, "status": "done", "record_count": b.record_count,
                "receipts": [{"seq": r.seq, "natural_key": r.natural_key, "op": r.op, "status": r.status,
                              "code": r.code, "message": r.message, "record_version": r.record_version}
                             for r in rows]}

    def _single(kind: str, op: str, body: dict[str, Any]) -> dict[str, Any]:
        _kind(kind)
        with write_lock, engine.begin() as conn:
            return apply_one(conn, kind, op, dict(body.get("data") or {}), body.get("reason"), None)

    @app.post("/api/v1/{kind}/records/correct", tags=["records"])
    def correct(kind: str, body: dict[str, Any] = Body(...), _: str = Depends(require_token)) -> dict[str, Any]:
        return _single(kind, "correct", body)

    @app.post("/api/v1/{kind}/records/withdraw", tags=["records"])
    def withdraw(kind: str, body: dict[str, Any] = Body(...), _: str = Depends(require_token)) -> dict[str, Any]:
        return _single(kind, "withdraw", body)

    # --- admin ---------------------------------------------------------------------------------------

    @app.get("/admin/records", tags=["admin"], dependencies=[Depends(require_admin)])
    def list_records(kind: str | None = None, status: str | None = None, limit: int = 100000) -> dict[str, Any]:
        q = sa.select(records).order_by(records.c.kind, records.c.natural_key).limit(limit)
        if kind:
            q = q.where(records.c.kind == kind)
        if status:
            q = q.where(records.c.status == status)
        with engine.connect() as conn:
            rows = conn.execute(q).all()
        return {"records": [{"kind": r.kind, "natural_key": r.natural_key, "version": r.version,
                             "status": r.status, "content_hash": r.content_hash,
                             "data": json.loads(r.payload)} for r in rows]}

    @app.get("/admin/stats", tags=["admin"], dependencies=[Depends(require_admin)])
    def stats() -> dict[str, Any]:
        with engine.connect() as conn:
            by = conn.execute(sa.select(records.c.kind, records.c.status, sa.func.count())
                              .group_by(records.c.kind, records.c.status)).all()
            ops = conn.execute(sa.select(history.c.op, sa.func.count()).group_by(history.c.op)).all()
            nb = conn.execute(sa.select(sa.func.count()).select_from(batches)).scalar_one()
        return {"records": {f"{k}:{s}": n for k, s, n in by}, "operations": dict(ops), "batches": nb,  # type: ignore[arg-type]
                "faults_injected": injector.injected}

    @app.get("/admin/faults", tags=["admin"], dependencies=[Depends(require_admin)])
    def get_faults() -> dict[str, Any]:
        return {**injector.config.__dict__, **state}

    @app.post("/admin/faults", tags=["admin"], dependencies=[Depends(require_admin)])
    def set_faults(body: dict[str, Any] = Body(...)) -> dict[str, Any]:
        for key in ("token_ttl", "processing_seconds"):
            if key in body:
                state[key] = float(body.pop(key))
        try:
            injector.update(body)
        except (TypeError, ValueError) as exc:
            raise HTTPException(422, {"code": "BAD_FAULTS", "message": str(exc)}) from None
        return {**injector.config.__dict__, **state}

    @app.post("/admin/reset", tags=["admin"], dependencies=[Depends(require_admin)])
    def reset() -> dict[str, str]:
        injector.reset()
        with write_lock, engine.begin() as conn:
            for table in (history, receipts, batches, records, tokens):
                conn.execute(table.delete())
        return {"status": "reset"}

    @app.post("/admin/expire-tokens", tags=["admin"], dependencies=[Depends(require_admin)])
    def expire_tokens() -> dict[str, str]:
        with write_lock, engine.begin() as conn:
            conn.execute(tokens.update().values(expires_at=0))
        return {"status": "expired"}

    @app.get("/health", tags=["admin"])
    def health() -> dict[str, Any]:
        return {"status": "ok", "time": dt.datetime.now(dt.UTC).isoformat()}

    return app
