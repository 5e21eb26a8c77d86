"""The old ``/credit`` prefix (信用管理 was a second plugin app until #17): every request is answered with a
308 to the same page under ``/creditflow/credit`` — the integrity API ``/credit/api/integrity`` to
``/creditflow/api/integrity`` — so bookmarks and licensing systems' configured URLs keep working (308 keeps the
method and body; clients send a POST again). Not a FastAPI app: a few lines of ASGI, nothing else to run."""

from __future__ import annotations

from typing import Any

from starlette.responses import RedirectResponse

OLD, NEW = "/credit", "/creditflow"


def target(root_path: str, path: str, query: str) -> str:
    """The new address of ``path`` (relative to the old mount) under the API server's base path ``root_path``."""
    base = root_path[: -len(OLD)] if root_path.endswith(OLD) else root_path
    rest = path if path.startswith("/api/") else f"/credit{path or '/'}"
    return f"{base}{NEW}{rest}" + (f"?{query}" if query else "")


async def redirect(scope: Any, receive: Any, send: Any) -> None:
    if scope["type"] != "http":  # lifespan: nothing to start
        return
    root = str(scope.get("root_path", ""))
    path = str(scope.get("path", ""))
    if path.startswith(root):  # Starlette's Mount leaves the full path in scope["path"]
        path = path[len(root):]
    query = scope.get("query_string", b"").decode("latin-1")
    await RedirectResponse(target(root, path, query), status_code=308)(scope, receive, send)
