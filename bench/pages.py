"""Per-request time of two 双公示 pages and a credit page in Airflow's API-server app (TestClient, in process,
an empty warehouse on SQLite, the viewer logged in; 200 requests each). By hand, not a test:

    PYTHONPATH=include:plugins python bench/pages.py /creditflow/credit/

(``/credit/`` for a tree from before #17, where the credit pages were an app of their own.)
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def main(credit_page: str = "/creditflow/credit/", requests: int = 200) -> None:
    from benchenv import ensure_keyring

    ensure_keyring()  # #19 §3: the warehouse and the pipeline seal personal data
    sys.path.insert(0, str(ROOT / "scripts"))
    from airflow_env import airflow_env

    home = Path(tempfile.mkdtemp(prefix="cf-pages-"))
    os.environ.update({k: v for k, v in airflow_env(home, port=28184).items() if k != "PYTHONPATH"})
    url = f"sqlite:///{home}/wh.sqlite"
    os.environ["AIRFLOW_CONN_CREDITFLOW_DB"] = json.dumps({"conn_type": "generic", "extra": {"sqlalchemy_url": url}})
    subprocess.run([sys.executable, "-m", "airflow", "db", "migrate"], check=True, capture_output=True)
    from creditflow.core import warehouse as wh

    wh.upgrade(wh.engine_from_url(url))
    from airflow.api_fastapi.app import create_app
    from fastapi.testclient import TestClient

    app = create_app("core")
    token = TestClient(app).post("/auth/token", json={"username": "viewer", "password": "viewer"}).json()
    client = TestClient(app, cookies={"_token": token["access_token"]}, headers={"Accept": "text/html"})
    for path in ("/creditflow/", "/creditflow/review", credit_page):
        assert client.get(path).status_code == 200, path
        times = []
        for _ in range(requests):
            start = time.perf_counter()
            assert client.get(path).status_code == 200
            times.append((time.perf_counter() - start) * 1000)
        times.sort()
        print(f"{path:28s} median {statistics.median(times):6.2f} ms  p95 {times[int(len(times) * 0.95) - 1]:6.2f} ms")


if __name__ == "__main__":
    main(*sys.argv[1:2])
