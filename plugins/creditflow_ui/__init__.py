"""creditflow's pages next to the Airflow UI: a FastAPI app mounted by ``creditflow_plugin`` at ``/creditflow``.

* ``routes`` — the pages and the review form's post (Jinja2 templates in ``templates/``);
* ``auth`` — the Airflow login of the request, the user's roles, the CSRF token of the forms;
* ``quality`` — the stored GX validation results behind 数据质量报告;
* ``dashboard`` — 数据看板 (``charts``: its server-drawn SVG charts; ``i18n``: its labels);
* ``selfcheck`` — 区县自查: a district spreadsheet checked on upload, never kept;
* ``errors`` — every error answered in Chinese (page in the site frame, or JSON), unhandled ones logged masked;
* ``static/`` — the one stylesheet. Nothing is loaded from another host: the Content-Security-Policy
  of every response says so to the browser as well.

Airflow's plugin loader imports every ``.py`` file under the plugins folder as a top-level module;
``plugins/.airflowignore`` keeps it out of this package, which is imported as ``creditflow_ui``.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import Response
from fastapi.staticfiles import StaticFiles

from creditflow_ui import dashboard, errors, selfcheck
from creditflow_ui.routes import HERE, render, root_of, router

CSP = ("default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; frame-ancestors 'self'; "
       "base-uri 'none'")


def _error_page(request: Request, status: int, title: str, message: str, back: str) -> Response:
    if status == 409 and request.url.path.endswith("/review/decide"):
        title = "无法接受该审核决定"
    return render(request, "error.html", title, "", None,
                  status_code=status, message=message, back=back)


def _back_of(request: Request) -> str:
    """Where an error page leads: a failed review decision back to 审核, anything else to 运行概况."""
    return f"{root_of(request)}/review" if request.method == "POST" else f"{root_of(request)}/"


def create_app() -> FastAPI:
    app = FastAPI(title="creditflow", docs_url=None, redoc_url=None, openapi_url=None)
    app.include_router(router)
    app.include_router(dashboard.router)
    app.include_router(selfcheck.router)
    app.mount("/static", StaticFiles(directory=HERE / "static"), name="static")
    # Chinese answers for every status and for unhandled exceptions (errors.py); installed before the
    # security headers, so the error pages carry them too.
    errors.install(app, root_of, _error_page, _back_of)

    @app.middleware("http")
    async def security_headers(request: Request, call_next: Any) -> Response:
        response: Response = await call_next(request)
        response.headers.setdefault("Content-Security-Policy", CSP)
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        response.headers.setdefault("Referrer-Policy", "same-origin")
        return response

    return app


app = create_app()
