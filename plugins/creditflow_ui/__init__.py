"""creditflow's pages next to the Airflow UI: a FastAPI app mounted by ``creditflow_plugin`` at ``/creditflow``.

* ``routes`` — the pages and the review form's post (Jinja2 templates in ``templates/``);
* ``auth`` — the Airflow login of the request, the user's roles, the CSRF token of the forms;
* ``quality`` — the stored GX validation results behind 数据质量报告;
* ``dashboard`` — 数据看板 (``charts``: its server-drawn SVG charts; ``i18n``: its labels);
* ``selfcheck`` — 区县自查: a district spreadsheet checked on upload, never kept;
* ``static/`` — the one stylesheet. Nothing is loaded from another host: the Content-Security-Policy
  of every response says so to the browser as well.

Airflow's plugin loader imports every ``.py`` file under the plugins folder as a top-level module;
``plugins/.airflowignore`` keeps it out of this package, which is imported as ``creditflow_ui``.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response
from fastapi.staticfiles import StaticFiles
from starlette.exceptions import HTTPException as StarletteHTTPException

from creditflow_ui import dashboard, selfcheck
from creditflow_ui.routes import HERE, render, root_of, router

CSP = ("default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; frame-ancestors 'self'; "
       "base-uri 'none'")
_TITLES = {401: "请先登录", 403: "无权操作", 404: "未找到", 409: "无法接受该审核决定"}


def create_app() -> FastAPI:
    app = FastAPI(title="creditflow", docs_url=None, redoc_url=None, openapi_url=None)
    app.include_router(router)
    app.include_router(dashboard.router)
    app.include_router(selfcheck.router)
    app.mount("/static", StaticFiles(directory=HERE / "static"), name="static")

    @app.middleware("http")
    async def security_headers(request: Request, call_next: Any) -> Response:
        response: Response = await call_next(request)
        response.headers.setdefault("Content-Security-Policy", CSP)
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        response.headers.setdefault("Referrer-Policy", "same-origin")
        return response

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> Response:
        """Pages answer errors with a page (Chinese message, a way back); ``/api/…`` with JSON."""
        if request.url.path.startswith(f"{root_of(request)}/api/") or "text/html" not in request.headers.get(
                "accept", "text/html"):
            return JSONResponse({"detail": exc.detail}, status_code=exc.status_code, headers=exc.headers)
        if exc.status_code == 401:
            back = "/"  # the Airflow UI, which asks for the login
        else:
            back = f"{root_of(request)}/review" if request.method == "POST" else f"{root_of(request)}/"
        return render(request, "error.html", _TITLES.get(exc.status_code, "出错了"), "", None,
                      status_code=exc.status_code, message=str(exc.detail), back=back)

    return app


app = create_app()
