"""The auditor's check of #19 §3 (``pii_scan_e2e_body.py``), in a pytest process of its own.

The body runs the three 双公示 DAGs through Airflow and scans the warehouse and the Airflow home. The home of
this test session is shared by every test of the process, and some put clear ID numbers there on purpose
(test_notifiers: a task that pushes one through XCom, to prove that the notifications mask it). A child
pytest gets a fresh Airflow home and metadata database (tests/conftest.py makes one per process), exactly
what an auditor finds after a fresh ``make demo``.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

BODY = Path(__file__).with_name("pii_scan_e2e_body.py")


def test_the_auditors_scan_finds_no_clear_personal_data_in_a_fresh_airflow_home_and_warehouse():
    env = {k: v for k, v in os.environ.items() if not k.startswith("AIRFLOW")}  # the child makes its own
    env["AIRFLOW_CONN_CREDITFLOW_PII"] = os.environ["AIRFLOW_CONN_CREDITFLOW_PII"]
    done = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(BODY)],
                          cwd=BODY.parents[2], env=env, capture_output=True, text=True, timeout=1500)
    assert done.returncode == 0, done.stdout[-6000:] + done.stderr[-2000:]
    assert "3 passed" in done.stdout and "failed" not in done.stdout, done.stdout[-2000:]
