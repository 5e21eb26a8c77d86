"""Airflow side of the outside systems: SQLAlchemy engines and HTTP clients built from Airflow connections.

Production points the same code at the real systems by changing the connections only:

=================  ==========================================================================
connection id      what
=================  ==========================================================================
``creditflow_db``  the pipeline's warehouse (staging, quarantine, review, ledger)
``case_db``        执法案件系统 database (read only)
``credit_platform`` 全国信用信息共享平台(广东珠海) upload API (login = app key, password = secret,
                   extra ``ca_bundle`` = the CA bundle its https certificate is verified with)
``licensing_api``  行政审批系统 licence API (login = client id, password = secret, extra ``ca_bundle``)
``creditflow_storage`` optional: where files live (extra ``base_url``; aws for S3-compatible storage)
=================  ==========================================================================

A SQL connection may carry ``{"sqlalchemy_url": "..."}`` in its extra (used for the demo's SQLite
files); otherwise the URL is built from the postgres connection fields.

Files (district inbox, data-quality results, reports, notices, plans) live behind one
:class:`creditflow.core.storage.Storage`, from :func:`storage`: under the base URL of the Variable
``creditflow_storage_url``, else the ``base_url`` in the extra of the connection ``creditflow_storage``,
else this project's ``var/`` folder (``$CREDITFLOW_VAR``) — the demo, unchanged. For ``s3://`` and the
other schemes a provider registers with Airflow's object storage (``ObjectStoragePath``), the filesystem
is built by Airflow from the ``creditflow_storage`` connection (conn type ``aws``: login/password = key
and secret, extra ``endpoint_url`` for MinIO and other S3-compatible stores; the extra's
``storage_options`` go to botocore's ``Config``, e.g. ``{"s3": {"addressing_style": "path"}}``); any other
fsspec scheme is built by fsspec itself, with the extra's ``storage_options`` as its arguments.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

from airflow.sdk import BaseHook

if TYPE_CHECKING:
    from creditflow.core.storage import Storage

WAREHOUSE_CONN = "creditflow_db"
CASE_DB_CONN = "case_db"
PLATFORM_CONN = "credit_platform"
LICENSING_CONN = "licensing_api"
STORAGE_CONN = "creditflow_storage"
STORAGE_URL_VARIABLE = "creditflow_storage_url"
INBOX_DIR_VARIABLE = "creditflow_inbox_dir"  # older setting: the inbox alone, a path or URL
STORAGE_AREAS = ("inbox", "gx", "reports", "notices", "plans")


def _in_task() -> bool:
    """Inside a task (the Task SDK's supervisor channel is set): only the SDK's own look-up is supported."""
    import sys

    return hasattr(sys.modules.get("airflow.sdk.execution_time.task_runner"), "SUPERVISOR_COMMS")


def _connection(conn_id: str) -> Any:
    """An Airflow connection through the Task SDK (``airflow.sdk.BaseHook.get_connection``), the supported
    call in Airflow 3. Inside a task that is all: a connection that is not defined (the demo's optional
    ``creditflow_storage``) raises ``AirflowNotFoundException`` at once — the metadata look-up
    ``Connection.get_connection_from_secrets`` is deprecated there and logged a DeprecationWarning at the top
    of every task log. Outside a task (a page of the API server, a CLI, a test) the SDK may not search the
    metadata database, so a miss there falls back to it (no warning outside a task)."""
    try:
        return BaseHook.get_connection(conn_id)
    except Exception:
        if _in_task():
            raise
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


def ensure_keyring() -> None:
    """The personal-data keyring (#19 §3) of this process: ``AIRFLOW_CONN_CREDITFLOW_PII`` when the environment
    has it, else the connection ``creditflow_pii`` from Airflow's secrets backend (installed with
    :func:`creditflow.core.pii.use_keyring`); neither is a :class:`~creditflow.core.pii.PiiKeyError` in Chinese."""
    import os

    from creditflow.core import pii

    if os.environ.get("AIRFLOW_CONN_CREDITFLOW_PII", "").strip():
        return
    try:
        pii.keyring()
        return
    except pii.PiiKeyError:
        pass
    try:
        conn = _connection(pii.CONN_ID)
    except Exception:
        pii.keyring()  # raises the Chinese message naming the connection
        raise
    pii.use_keyring(conn.extra_dejson or {})


def warehouse_engine() -> Any:
    """The warehouse's engine. The schema is not touched here: `creditflow db upgrade` (run by `make demo`
    and the deployment's init step) brings it to the latest revision before any DAG runs. The keyring that
    seals and opens personal data is made ready with it (:func:`ensure_keyring`)."""
    from creditflow.core.warehouse import engine_from_url

    ensure_keyring()
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


def _http_client(conn_id: str, client_cls: Any) -> Any:
    """A platform or licensing client from an HTTP connection: base URL, key (login), secret (password),
    retry policy (extra ``attempts``, ``backoff``, ``timeout``) and the CA bundle its TLS is verified with
    (extra ``ca_bundle``: a PEM file path; absent = the default store)."""
    from creditflow.core.platform_client import RetryPolicy

    conn = _connection(conn_id)
    extra = conn.extra_dejson or {}
    policy = RetryPolicy(attempts=int(extra.get("attempts", 6)), backoff=float(extra.get("backoff", 0.5)),
                         timeout=float(extra.get("timeout", 30)))
    return client_cls(_base_url(conn), conn.login or "", conn.password or "", policy,
                      verify=ca_bundle(extra), conn_id=conn_id)


def ca_bundle(extra: dict[str, Any]) -> bool | str:
    """The connection extra's ``ca_bundle`` (the CA that signed the server's certificate), else True: the
    default store. Verification cannot be switched off here (``"ca_bundle": false`` is refused by the client)."""
    value = extra.get("ca_bundle")
    return True if value is None or value is True else value


class CreditPlatformHook(BaseHook):
    """Hook for the shared credit platform: a client with token refresh, retries and Retry-After.

    Over https the platform's certificate is verified against the CA bundle in the connection's extra,
    ``{"ca_bundle": "/etc/creditflow/platform-ca.pem"}`` (the platform's front end often uses a domestic CA
    that the default store does not hold); without it, against the default store. A certificate that does
    not verify fails the task at once (``PlatformTLSError``), not after retries. The deferred receipt wait
    (``triggers.PlatformReceiptsTrigger``) reads the same extra."""

    conn_name_attr = "credit_platform_conn_id"
    default_conn_name = PLATFORM_CONN
    conn_type = "http"
    hook_name = "全国信用信息共享平台"

    def __init__(self, conn_id: str = PLATFORM_CONN) -> None:
        super().__init__()
        self.conn_id = conn_id

    def get_conn(self) -> Any:
        from creditflow.core.platform_client import PlatformClient

        return _http_client(self.conn_id, PlatformClient)


class LicensingApiHook(BaseHook):
    """Hook for the 行政审批系统 licence API (extra ``ca_bundle`` as for :class:`CreditPlatformHook`)."""

    conn_name_attr = "licensing_api_conn_id"
    default_conn_name = LICENSING_CONN
    conn_type = "http"
    hook_name = "行政审批系统"

    def __init__(self, conn_id: str = LICENSING_CONN) -> None:
        super().__init__()
        self.conn_id = conn_id

    def get_conn(self) -> Any:
        from creditflow.core.platform_client import LicensingClient

        return _http_client(self.conn_id, LicensingClient)


def var_dir() -> Path:
    return Path(os.environ.get("CREDITFLOW_VAR", Path(__file__).resolve().parents[1] / "var"))


def _variable(key: str) -> str | None:
    """An Airflow Variable, or None: in a task through the Task SDK, in the API server from its backends."""
    try:
        from airflow.sdk import Variable

        value = Variable.get(key, default=None)
    except Exception:
        try:
            from airflow.models.variable import Variable as MetadataVariable

            value = MetadataVariable.get(key, default_var=None)
        except Exception:
            value = None
    return str(value) if value not in (None, "") else None


def _storage_connection() -> Any | None:
    try:
        return _connection(STORAGE_CONN)
    except Exception:  # not configured: the demo's local folders
        return None


def storage_base_url() -> str:
    """Where creditflow keeps its files: the Variable, the connection's ``base_url``, or ``var/``."""
    url = _variable(STORAGE_URL_VARIABLE)
    if url:
        return url
    conn = _storage_connection()
    extra = (conn.extra_dejson or {}) if conn is not None else {}
    return str(extra.get("base_url") or var_dir())


def _storage_at(url: str) -> Storage:
    from creditflow.core.storage import Storage

    scheme = url.split("://", 1)[0] if "://" in url else "file"
    if scheme in ("file", "local"):
        return Storage.from_url(url)
    conn = _storage_connection()
    options = dict(((conn.extra_dejson or {}) if conn is not None else {}).get("storage_options") or {})
    from airflow.sdk.io import has_fs

    if conn is not None and has_fs(scheme):
        # Airflow's object storage (ObjectStoragePath's filesystems): the provider builds the filesystem
        # with the connection's credentials (aws: key, secret, endpoint_url, region).
        from airflow.sdk.io import get_fs

        fs = get_fs(scheme, STORAGE_CONN, options)
        return Storage(fs, url.split("://", 1)[1])  # bucket/prefix, in the filesystem's own terms
    return Storage.from_url(url, **options)


def storage(area: str) -> Storage:
    """The :class:`~creditflow.core.storage.Storage` of one area: ``inbox`` (district submissions),
    ``gx`` (data-quality results), ``reports``, ``notices`` or ``plans``."""
    if area not in STORAGE_AREAS:
        raise ValueError(f"unknown storage area {area!r}; one of {', '.join(STORAGE_AREAS)}")
    if area == "inbox":
        legacy = _variable(INBOX_DIR_VARIABLE)
        if legacy:
            return _storage_at(legacy)
    return _storage_at(storage_base_url()).child(area)


def sgs_sources(kind: str) -> Any:
    """The sources of one 双公示 kind, from the connections: the case system (not for licences), the
    licensing API (licences only) and the district inbox on the storage."""
    from creditflow.reporting import pipeline as sgs

    return sgs.Sources(case_db=case_db_engine() if kind != "license" else None,
                       licensing=LicensingApiHook().get_conn() if kind == "license" else None,
                       inbox=storage("inbox"))


def sgs_options() -> Any:
    """The options of an interval run from the Variables — the same for the daily DAGs and the history
    load: ``creditflow_data_source_uscc``, ``creditflow_upload_batch_size`` (200),
    ``creditflow_receipt_wait_seconds`` (600); each run's GX result for 数据质量报告 on the storage's ``gx``
    area. (The ledger lock is not an option: core/ledger always takes it.)"""
    from creditflow.reporting.pipeline.interval import IntervalOptions

    return IntervalOptions(
        gx_project_dir=storage("gx"),
        data_source_uscc=_variable("creditflow_data_source_uscc"),
        batch_size=int(_variable("creditflow_upload_batch_size") or 200),
        receipt_timeout=float(_variable("creditflow_receipt_wait_seconds") or 600))
