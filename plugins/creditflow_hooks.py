"""Airflow side of the outside systems: SQLAlchemy engines and HTTP clients built from Airflow connections.

Production points the same code at the real systems by changing the connections only:

=================  ==========================================================================
connection id      what
=================  ==========================================================================
``creditflow_db``  the pipeline's warehouse (staging, quarantine, review, ledger)
``case_db``        执法案件系统 database (read only)
``credit_platform`` 全国信用信息共享平台(广东珠海) upload API (login = app key, password = secret)
``licensing_api``  行政审批系统 licence API (login = client id, password = secret)
=================  ==========================================================================

A SQL connection may carry ``{"sqlalchemy_url": "..."}`` in its extra (used for the demo's SQLite
files); otherwise the URL is built from the postgres connection fields.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from airflow.sdk import BaseHook

WAREHOUSE_CONN = "creditflow_db"
CASE_DB_CONN = "case_db"
PLATFORM_CONN = "credit_platform"
LICENSING_CONN = "licensing_api"


def _connection(conn_id: str) -> Any:
    try:
        return BaseHook.get_connection(conn_id)
    except Exception:
        from airflow.models.connection import Connection

        return Connection.get_connection_from_secrets(conn_id)


def sqlalchemy_url(conn_id: str) -> str:
    from creditflow.core.warehouse import connection_url

    conn = _connection(conn_id)
    try:
        return connection_url(conn.conn_type, host=conn.host, port=conn.port, schema=conn.schema,
                              login=conn.login, password=conn.password, extra=conn.extra_dejson or {})
    except ValueError as exc:
        raise ValueError(f"connection {conn_id}: {exc}") from None


def warehouse_engine() -> Any:
    """The warehouse's engine. The schema is not touched here: `creditflow db upgrade` (run by `make demo`
    and the deployment's init step) brings it to the latest revision before any DAG runs."""
    from creditflow.core.warehouse import engine_from_url

    return engine_from_url(sqlalchemy_url(WAREHOUSE_CONN))


def case_db_engine() -> Any:
    from creditflow.core.warehouse import engine_from_url

    return engine_from_url(sqlalchemy_url(CASE_DB_CONN))


def _base_url(conn: Any) -> str:
    host = conn.host or "localhost"
    if "://" in host:
        base = host
    else:
        scheme = conn.schema or "http"
        base = f"{scheme}://{host}"
    if conn.port and f":{conn.port}" not in base.split("://", 1)[1]:
        base += f":{conn.port}"
    return base.rstrip("/")


def _http_client_args(conn_id: str, policy_cls: Any) -> tuple[str, str, str, Any]:
    """Base URL, key, secret and retry policy (extra: attempts, backoff, timeout) of an HTTP connection."""
    conn = _connection(conn_id)
    extra = conn.extra_dejson or {}
    policy = policy_cls(attempts=int(extra.get("attempts", 6)), backoff=float(extra.get("backoff", 0.5)),
                        timeout=float(extra.get("timeout", 30)))
    return _base_url(conn), conn.login or "", conn.password or "", policy


class CreditPlatformHook(BaseHook):
    """Hook for the shared credit platform: a client with token refresh, retries and Retry-After."""

    conn_name_attr = "credit_platform_conn_id"
    default_conn_name = PLATFORM_CONN
    conn_type = "http"
    hook_name = "全国信用信息共享平台"

    def __init__(self, conn_id: str = PLATFORM_CONN) -> None:
        super().__init__()
        self.conn_id = conn_id

    def get_conn(self) -> Any:
        from creditflow.core.platform_client import PlatformClient, RetryPolicy

        return PlatformClient(*_http_client_args(self.conn_id, RetryPolicy))


class LicensingApiHook(BaseHook):
    """Hook for the 行政审批系统 licence API."""

    conn_name_attr = "licensing_api_conn_id"
    default_conn_name = LICENSING_CONN
    conn_type = "http"
    hook_name = "行政审批系统"

    def __init__(self, conn_id: str = LICENSING_CONN) -> None:
        super().__init__()
        self.conn_id = conn_id

    def get_conn(self) -> Any:
        from creditflow.core.platform_client import LicensingClient, RetryPolicy

        return LicensingClient(*_http_client_args(self.conn_id, RetryPolicy))


def var_dir() -> Path:
    return Path(os.environ.get("CREDITFLOW_VAR", Path(__file__).resolve().parents[1] / "var"))


def inbox_dir() -> Path:
    from airflow.sdk import Variable

    return Path(Variable.get("creditflow_inbox_dir", default=str(var_dir() / "inbox")))


def gx_dir() -> Path:
    return var_dir() / "gx"
