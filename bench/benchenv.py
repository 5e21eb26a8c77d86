"""What every benchmark process needs before it touches a warehouse: the personal-data keyring (#19 §3).

A deployment provides the Airflow connection ``creditflow_pii``; a benchmark makes a fresh one for its run
when none is given (migration 0018 and the pipeline's sealing refuse to run without one)."""

from __future__ import annotations

import os


def ensure_keyring() -> None:
    if not os.environ.get("AIRFLOW_CONN_CREDITFLOW_PII"):
        from creditflow.core.pii import keys

        os.environ["AIRFLOW_CONN_CREDITFLOW_PII"] = keys.connection_json(keys.generate_keyring())
