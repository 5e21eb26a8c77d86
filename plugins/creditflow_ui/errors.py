"""Errors a clerk can read, for both plugin apps (``/creditflow`` and ``/credit``).

Every status answers in Chinese: a page inside the site frame (the app's own ``error.html``), or JSON
``{"detail": …}`` for ``…/api/…`` and for clients that do not ask for HTML. A request the forms cannot
have sent (FastAPI's validation, 422) says which field, in Chinese. An unhandled exception never reaches
the user as Starlette's bare "Internal Server Error": it is logged here with its traceback (masked by
:func:`creditflow.common.mask_text`, as every log line of the project) and a reference number, and the
user gets the Chinese page with that number (status 500).

:func:`install` wires it into an app; the app supplies ``page(request, status, title, message, back)``.
"""

from __future__ import annotations

import logging
import re
import secrets
import traceback
from collections.abc import Callable, Mapping
from http import HTTPStatus
from typing import Any

from creditflow.common import mask_text
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, JSONResponse, Response
from starlette.exceptions import HTTPException as StarletteHTTPException

log = logging.getLogger("creditflow.ui.errors")

TITLES = {400: "请求有误", 401: "请先登录", 403: "无权操作", 404: "未找到", 405: "不支持该操作", 409: "无法办理",
          413: "文件太大", 415: "文件类型不支持", 422: "提交的内容有误", 429: "请求过于频繁", 500: "系统内部错误",
          502: "服务暂不可用", 503: "服务暂不可用", 504: "服务响应超时"}
#: What a status means when the code raising it gave no Chinese text (Starlette's own 404/405, …).
DEFAULT_MESSAGES = {
    400: "请求有误，请返回后重试。", 401: "请先登录 Airflow。", 403: "您没有办理此事项的权限。",
    404: "没有这个页面或记录，请检查链接。", 405: "该地址不支持这种操作，请从页面上的按钮办理。",
    409: "当前状态下无法办理该事项。", 413: "上传的文件太大。", 415: "不支持这种文件类型。",
    422: "提交的内容不完整或格式不对。", 429: "请求过于频繁，请稍后再试。",
    500: "系统内部错误，已记录，请稍后重试或联系管理员。", 502: "依赖的服务暂不可用，请稍后重试。",
    503: "服务暂不可用，请稍后重试。", 504: "依赖的服务响应超时，请稍后重试。",
}
_FIELD_PROBLEMS = {"missing": "缺少", "string_pattern_mismatch": "格式不对", "string_too_long": "太长",
                   "int_parsing": "应为整数", "float_parsing": "应为数字", "json_invalid": "不是有效的 JSON",
                   "list_type": "应为列表", "dict_type": "应为 JSON 对象", "date_from_datetime_parsing": "应为日期"}

#: The Chinese name of each form, query and path field of the two apps' routes (a validation answer names the
#: field as the page labels it, never by its code; a field not listed here is named "字段 <code>").
FIELD_LABELS = {
    "accept": "是否批准", "action": "办理事项", "amount": "罚款金额", "back": "返回地址", "basis": "依据",
    "case_id": "案件编号", "categories": "处罚种类", "code": "统一社会信用代码或身份证号码",
    "codes": "统一社会信用代码或身份证号码", "comment": "审核意见", "commitment": "信用承诺",
    "confirmed": "已核实的条件", "csrf_token": "表单令牌", "day": "日期", "decided": "决定日期",
    "decision": "审核决定", "doc_id": "文书编号", "facts": "事实", "file": "文件", "fmt": "文件格式", "kind": "类别",
    "level": "审核层级", "limit": "条数", "note": "说明", "objection_id": "陈述申辩编号", "on": "日期",
    "party": "当事人", "party_key": "当事人代码", "party_name": "当事人名称", "party_type": "当事人类型",
    "penalty_id": "处罚编号", "period": "统计期间", "purpose": "用途", "request_id": "申请编号",
    "resolution": "处理意见", "review_key": "审核记录标识", "situation_id": "情形", "state": "状态",
    "step": "办理步骤", "text": "内容", "upheld": "是否成立", "violation": "违法行为", "what": "登记事项",
}

Page = Callable[[Request, int, str, str, str], Response]
_CJK = re.compile(r"[\u4e00-\u9fff]")


def title_of(status: int) -> str:
    return TITLES.get(status, "出错了" if status < 500 else "系统内部错误")


def message_of(status: int, detail: Any) -> str:
    """The detail a route gave (already Chinese), else the Chinese meaning of the status."""
    text = "" if detail is None else str(detail)
    try:
        phrase = HTTPStatus(status).phrase
    except ValueError:
        phrase = ""
    default = DEFAULT_MESSAGES.get(status, f"请求未能办理（状态 {status}）。")
    if not text or text == phrase:
        return default
    if not _CJK.search(text):  # Airflow's own English detail (e.g. "Invalid JWT token"): Chinese first
        return mask_text(f"{default}（{text}）")
    return mask_text(text)


def field_label(name: str) -> str:
    """A field's Chinese name (:data:`FIELD_LABELS`); an item of a list field is the field itself."""
    return FIELD_LABELS.get(name) or ("" if name.isdigit() else f"字段 {name}")


def validation_message(exc: RequestValidationError, api: bool = False) -> str:
    """FastAPI's validation errors as one Chinese sentence naming the fields by their Chinese names (never the
    values sent). ``api``: the answer goes to a program, which has no page to return to."""
    parts = []
    for err in exc.errors():
        loc = [str(x) for x in err.get("loc", ()) if x not in ("body", "query", "path", "form", "header")]
        field = "、".join(label for label in (field_label(x) for x in loc) if label) or "请求"
        parts.append(f"{field}{_FIELD_PROBLEMS.get(str(err.get('type', '')), '不符合要求')}")
    ending = "。" if api else "。请返回页面重新填写。"
    return "提交的内容不完整或格式不对：" + "；".join(dict.fromkeys(parts)) + ending


def wants_json(request: Request, root: str) -> bool:
    return request.url.path.startswith(f"{root}/api/") or "text/html" not in request.headers.get("accept",
                                                                                                  "text/html")


def log_unhandled(exc: BaseException, request: Request) -> str:
    """Log the exception with its traceback, masked; returns the reference number shown to the user."""
    ref = secrets.token_hex(4)
    text = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))
    log.error("unhandled error %s on %s %s\n%s", ref, request.method, request.url.path, mask_text(text))
    return ref


def plain_page(status: int, title: str, message: str) -> HTMLResponse:
    """Used only when the app's own page cannot be drawn (the frame itself failing)."""
    from html import escape

    return HTMLResponse(f'<!doctype html><html lang="zh-CN"><head><meta charset="utf-8"><title>{escape(title)}'
                        f'</title></head><body><h1>{escape(title)}</h1><p class="error">{escape(message)}</p>'
                        '<p><a href="javascript:history.back()">返回</a></p></body></html>', status_code=status)


def answer(request: Request, root: str, page: Page, back: str, status: int, message: str,
           headers: Mapping[str, str] | None = None) -> Response:
    if wants_json(request, root):
        return JSONResponse({"detail": message}, status_code=status, headers=dict(headers or {}))
    try:
        response = page(request, status, title_of(status), message, back)
    except Exception as exc:  # the frame itself failed (e.g. a broken roster file): still Chinese
        log_unhandled(exc, request)
        response = plain_page(status, title_of(status), message)
    if headers:
        response.headers.update(headers)
    return response


class CatchAll:
    """ASGI middleware: any exception a route lets through becomes the Chinese 500 answer (logged, masked).
    Added before the app's other middleware, so theirs (security headers) wrap this answer too."""

    def __init__(self, app: Any, root_of: Callable[[Request], str], page: Page, back_of: Callable[[Request], str]):
        self.app, self.root_of, self.page, self.back_of = app, root_of, page, back_of

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def watch(message: Any) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, receive, watch)
        except Exception as exc:
            request = Request(scope)
            ref = log_unhandled(exc, request)
            if started:  # half a response is already out: nothing more can be said to the client
                return
            message = f"{DEFAULT_MESSAGES[500]}（错误编号 {ref}）"
            response = answer(request, self.root_of(request), self.page, self.back_of(request), 500, message)
            await response(scope, receive, send)


def install(app: FastAPI, root_of: Callable[[Request], str], page: Page, back_of: Callable[[Request], str]) -> None:
    """Chinese answers for every HTTP status, for invalid requests and for unhandled exceptions."""

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> Response:
        back = "/" if exc.status_code == 401 else back_of(request)  # 401: the Airflow UI asks for the login
        return answer(request, root_of(request), page, back, exc.status_code, message_of(exc.status_code, exc.detail),
                      headers=exc.headers)

    @app.exception_handler(RequestValidationError)
    async def invalid_request(request: Request, exc: RequestValidationError) -> Response:
        root = root_of(request)
        return answer(request, root, page, back_of(request), 422,
                      validation_message(exc, api=wants_json(request, root)))

    app.add_middleware(CatchAll, root_of=root_of, page=page, back_of=back_of)
