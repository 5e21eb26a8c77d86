"""The API server's access log (Airflow's ``http.access`` records, written to ``logs/api-server.log``) holds no
resident ID number in clear (#19 §3): a request answered with the number as given is logged masked."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from urllib.parse import unquote

import pytest
import structlog
from creditflow.common import contains_unmasked_id, mask_id
from creditflow.core import identifiers as ids
from creditflow.core import warehouse as wh

pytestmark = [pytest.mark.integration, pytest.mark.slow]
RIC = "44040219900101001" + ids.ric_check_char("44040219900101001")


@pytest.fixture(scope="module")
def app(airflow_home, module_db_url):
    subprocess.run([sys.executable, "-m", "airflow", "db", "migrate"], check=True, capture_output=True,
                   env={**os.environ})
    engine = wh.engine_from_url(module_db_url)
    wh.create_schema(engine)
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("AIRFLOW_CONN_CREDITFLOW_DB",
                  json.dumps({"conn_type": "generic", "extra": {"sqlalchemy_url": module_db_url}}))
        from airflow.api_fastapi.app import create_app
        from creditflow_ui import state

        state.close()
        yield create_app("core")
        state.close()
    engine.dispose()


def _access(logs: list[dict]) -> list[dict]:
    return [r for r in logs if r.get("event") == "request finished"]


def test_an_id_number_in_a_query_or_path_is_answered_but_logged_masked(app):
    from fastapi.testclient import TestClient

    client = TestClient(app)
    token = client.post("/auth/token", json={"username": "admin", "password": "admin"}).json()["access_token"]
    bearer = {"Authorization": f"Bearer {token}"}
    with structlog.testing.capture_logs() as logs:
        answered = client.get(f"/creditflow/api/integrity?code={RIC}&purpose=procurement", headers=bearer)
        anonymous = client.get(f"/creditflow/credit/integrity?code=%E5%8F%B7{RIC}")
        on_a_path = client.get(f"/api/v2/dags/x/dagRuns/{RIC}", headers=bearer)
    assert answered.status_code == 200, answered.text
    assert len(answered.json()["answers"]) == 1          # the endpoint saw the number as given
    assert anonymous.status_code == 401 and on_a_path.status_code == 404
    records = _access(logs)
    assert len(records) == 3, logs
    shown = json.dumps(records, ensure_ascii=False)
    assert not contains_unmasked_id(shown), shown
    assert unquote(records[0]["query"]) == f"code={mask_id(RIC)}&purpose=procurement"   # Airflow writes * as %2A
    assert records[2]["path"] == f"/api/v2/dags/x/dagRuns/{mask_id(RIC)}"


def test_requests_without_an_id_number_are_logged_as_they_came(app):
    from fastapi.testclient import TestClient

    with structlog.testing.capture_logs() as logs:
        TestClient(app).get("/creditflow/api/integrity?code=91440402MA4UL0QXH5&x=%E4%B8%AD")
    (record,) = _access(logs)
    assert record["query"] == "code=91440402MA4UL0QXH5&x=%E4%B8%AD" and record["path"] == "/creditflow/api/integrity"
