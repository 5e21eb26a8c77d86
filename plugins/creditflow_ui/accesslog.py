"""Resident ID numbers out of the API server's access log (#19 §3: the auditor's scan of the service logs).

Airflow 3.3 logs every request ("request finished", logger ``http.access``) with its path and query string;
it hides the values of secret-looking keys (``token``, ``password``) but not an ID number: a check such as
``GET /creditflow/api/integrity?code=<身份证号码>`` — or any API path or filter that carries one — put the
number in clear into ``logs/api-server.log``. This root middleware (registered by ``creditflow_plugin``
as ``fastapi_root_middlewares``) runs inside Airflow's access-log middleware: once the request has been
answered with the value as given, it rewrites the path and the query string of the request's scope through
:func:`creditflow.common.mask_text`, and the access log, written last, records the masked form.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qsl, unquote_plus, urlencode

from creditflow.common import mask_text


def masked_query(query: bytes) -> bytes | None:
    """The query string with every ID number masked (keys and values), or None when nothing changes."""
    text = query.decode("latin-1")
    plain = unquote_plus(text)  # "%E5%8F%B7440402…": the escape's last digit would hide the number's start
    if mask_text(text) == text and mask_text(plain) == plain:
        return None
    pairs = parse_qsl(text, keep_blank_values=True)
    return urlencode([(mask_text(k), mask_text(v)) for k, v in pairs]).encode("ascii")


class MaskIdsInAccessLog:
    """ASGI middleware: after the response, the request's path and query string as :func:`mask_text` shows them."""

    def __init__(self, app: Any):
        self.app = app

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        try:
            await self.app(scope, receive, send)
        finally:
            path = scope.get("path")
            if isinstance(path, str):
                scope["path"] = mask_text(path)
            query = masked_query(scope.get("query_string") or b"")
            if query is not None:
                scope["query_string"] = query
