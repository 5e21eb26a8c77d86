"""Shared fixtures. Airflow settings are fixed before anything imports airflow (see scripts/airflow_env.py)."""

from __future__ import annotations

import os
import sys
import tempfile
import uuid
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "scripts"))
sys.path.insert(0, str(ROOT / "tests"))
# As in every Airflow process (settings put the plugins folder on sys.path): the app package creditflow_ui. Nothing
# the DAGs import lives there any more (include/creditflow_airflow), so no test can load a module twice through it.
sys.path.insert(0, str(ROOT / "plugins"))

_AIRFLOW_HOME = Path(tempfile.mkdtemp(prefix="creditflow-airflow-"))
from airflow_env import airflow_env  # noqa: E402

os.environ.update({k: v for k, v in airflow_env(_AIRFLOW_HOME, port=int(os.environ.get("CF_TEST_API_PORT", "28080")))
                   .items() if k != "PYTHONPATH"})

# Personal data at rest (#19 §3): every test process gets its own keyring, as a deployment provides its
# connection ``creditflow_pii`` (never a key in the repository). Subprocesses (Airflow, the CLI) inherit it.
if not os.environ.get("AIRFLOW_CONN_CREDITFLOW_PII"):
    from creditflow.core.pii import keys as _pii_keys

    os.environ["AIRFLOW_CONN_CREDITFLOW_PII"] = _pii_keys.connection_json(_pii_keys.generate_keyring())


@pytest.fixture(scope="session")
def airflow_home() -> Path:
    return _AIRFLOW_HOME


def _pg_url() -> str | None:
    return os.environ.get("CREDITFLOW_TEST_DATABASE_URL")


@pytest.fixture
def db_url(tmp_path):
    """A fresh, empty database: a PostgreSQL schema when CREDITFLOW_TEST_DATABASE_URL is set (CI), else SQLite."""
    yield from _fresh_db(tmp_path)


@pytest.fixture(scope="module")
def module_db_url(tmp_path_factory):
    yield from _fresh_db(tmp_path_factory.mktemp("db"))


def _fresh_db(directory: Path):
    url = _pg_url()
    if not url:
        yield f"sqlite:///{directory / f'wh_{uuid.uuid4().hex[:6]}.sqlite'}"
        return
    import sqlalchemy as sa

    schema = f"t_{uuid.uuid4().hex[:10]}"
    admin = sa.create_engine(url)
    with admin.begin() as conn:
        conn.exec_driver_sql(f"CREATE SCHEMA {schema}")
    sep = "&" if "?" in url else "?"
    yield f"{url}{sep}options=-csearch_path%3D{schema}"
    with admin.begin() as conn:
        conn.exec_driver_sql(f"DROP SCHEMA {schema} CASCADE")
    admin.dispose()


def pytest_report_header(config):
    return [f"warehouse tests on: {'PostgreSQL' if _pg_url() else 'SQLite (set CREDITFLOW_TEST_DATABASE_URL for PostgreSQL)'}"]


@pytest.fixture(autouse=True)
def _fresh_standardised_rows():
    """Each test starts with no standardised rows kept from another test (pipeline/standardise.py keeps them
    per process, by their inputs; a test may change the rules' data or the keys between tests)."""
    from creditflow.reporting.pipeline.standardise import clear_memo, forget_opened

    clear_memo()
    forget_opened()
    yield
