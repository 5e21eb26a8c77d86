"""creditflow's one web app next to the Airflow UI, mounted by ``creditflow_plugin`` at ``/creditflow``.

Routers per capability, one Jinja2 templates folder (``templates/``, one site frame ``base.html``), one set of
security headers and one Chinese error page for all of them:

* ``routes`` — 双公示 运行概况, 问题数据, 数据质量报告 (and the one Jinja2 environment, ``render``);
* ``review`` — 审核: the queue, a decision's post, 立即上报, 审核记录;
* ``dashboard`` — 数据看板 (``charts``: its server-drawn SVG charts; ``i18n``: its labels);
* ``selfcheck`` — 区县自查: a district spreadsheet checked on upload, never kept;
* ``credit`` — 信用管理 pages under ``credit/`` (严重失信名单, 信用修复, 诚信审核, 影响评估);
* ``credit_api`` — the 诚信审核 JSON endpoint ``api/integrity`` for licensing and procurement systems;
* ``auth`` — the Airflow login of the request, the user's roles, the CSRF token of the forms;
* ``errors`` — every error answered in Chinese (page in the site frame, or JSON), unhandled ones logged masked;
* ``state`` — the engine, reader pool, check threads and audit writer, created once in :func:`lifespan`;
* ``legacy`` — the old ``/credit`` prefix, redirected here;
* ``static/`` — the stylesheets and the dashboard's script. Nothing is loaded from another host: the
  Content-Security-Policy of every response says so to the browser as well.

Airflow's plugin loader imports every ``.py`` file under the plugins folder as a top-level module;
``plugins/.airflowignore`` keeps it out of this package, which is imported as ``creditflow_ui``.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import Response
from fastapi.staticfiles import StaticFiles

from creditflow_ui import credit, credit_api, dashboard, errors, review, selfcheck, state
from creditflow_ui.routes import HERE, render, root_of, router

CSP = ("default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; frame-ancestors 'self'; "
       "base-uri 'none'")


def _error_page(request: Request, status: int, title: str, message: str, back: str) -> Response:
    if status == 409 and request.url.path.endswith("/review/decide"):
        title = "无法接受该审核决定"
    return render(request, "error.html", title, "", None, status_code=status, message=message, back=back)


def _back_of(request: Request) -> str:
    """Where an error page leads: a credit page back to 信用管理, a failed review decision back to 审核, anything
    else to 运行概况."""
    root = root_of(request)
    if request.url.path.startswith(f"{root}/credit/"):
        return f"{root}/credit/"
    return f"{root}/review" if request.method == "POST" else f"{root}/"


class SecurityHeaders:
    """CSP, ``nosniff`` and ``Referrer-Policy`` on every response, error pages included; a header a route set
    itself (the dashboard's CSP allowing its own script) is kept. A plain ASGI middleware: it only adds headers
    to the response start, where Starlette's ``BaseHTTPMiddleware`` would cost a task and a stream per request."""

    HEADERS = ((b"content-security-policy", CSP.encode()), (b"x-content-type-options", b"nosniff"),
               (b"referrer-policy", b"same-origin"))

    def __init__(self, app: Any):
        self.app = app

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Any) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                present = {k.lower() for k, _ in headers}
                headers += [(k, v) for k, v in self.HEADERS if k not in present]
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, send_with_headers)


@asynccontextmanager
async def lifespan(_: FastAPI) -> AsyncIterator[None]:
    """The shared state for the life of the server. Airflow 3.3's API server enters the lifespan of every FastAPI
    app a plugin mounts (``airflow.api_fastapi.app.lifespan``); where it does not run (a ``TestClient`` used without
    ``with``), :mod:`creditflow_ui.state` creates the same objects on first use."""
    state.open()
    try:
        yield
    finally:
        state.close()


def create_app() -> FastAPI:
    app = FastAPI(title="creditflow", docs_url=None, redoc_url=None, openapi_url=None, lifespan=lifespan)
    app.include_router(router)
    app.include_router(review.router)
    app.include_router(dashboard.router)
    app.include_router(selfcheck.router)
    app.include_router(credit.router)
    app.include_router(credit_api.router)
    app.mount("/static", StaticFiles(directory=HERE / "static"), name="static")
    # Chinese answers for every status and for unhandled exceptions (errors.py); inside SecurityHeaders, so the
    # error pages carry the headers too.
    errors.install(app, root_of, _error_page, _back_of)
    app.add_middleware(credit_api.ClientScope)  # a machine client's credential: the integrity endpoint only
    app.add_middleware(SecurityHeaders)
    return app


app = create_app()
