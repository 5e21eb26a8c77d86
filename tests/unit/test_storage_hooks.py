"""``creditflow_hooks.storage(area)``: the demo's var/ folders by default; a base URL from the Variable
``creditflow_storage_url`` or the ``creditflow_storage`` connection; Airflow's object-storage filesystems
(ObjectStoragePath's, e.g. s3 from the Amazon provider) built with that connection; plans written and
read through it on memory:// as on a local folder."""

from __future__ import annotations

import json
import uuid

import fsspec
import pytest


@pytest.fixture
def hooks(tmp_path, monkeypatch):
    monkeypatch.setenv("CREDITFLOW_VAR", str(tmp_path / "var"))
    for name in ("AIRFLOW_VAR_CREDITFLOW_STORAGE_URL", "AIRFLOW_VAR_CREDITFLOW_INBOX_DIR",
                 "AIRFLOW_CONN_CREDITFLOW_STORAGE"):
        monkeypatch.delenv(name, raising=False)
    import creditflow_hooks

    return creditflow_hooks


def test_default_is_the_local_var_folders(hooks, tmp_path):
    for area in hooks.STORAGE_AREAS:
        assert hooks.storage(area).local_path() == tmp_path / "var" / area
    with pytest.raises(ValueError, match="unknown storage area"):
        hooks.storage("secrets")


def test_the_old_inbox_variable_still_moves_the_inbox(hooks, tmp_path, monkeypatch):
    monkeypatch.setenv("AIRFLOW_VAR_CREDITFLOW_INBOX_DIR", str(tmp_path / "share"))
    assert hooks.storage("inbox").local_path() == tmp_path / "share"
    assert hooks.storage("plans").local_path() == tmp_path / "var" / "plans"


def test_variable_url_then_connection_base_url(hooks, monkeypatch):
    bucket = f"cf-{uuid.uuid4().hex[:8]}"
    monkeypatch.setenv("AIRFLOW_CONN_CREDITFLOW_STORAGE", json.dumps(
        {"conn_type": "generic", "extra": {"base_url": f"memory://{bucket}/from-connection"}}))
    assert hooks.storage("reports").url == f"memory:///{bucket}/from-connection/reports"
    monkeypatch.setenv("AIRFLOW_VAR_CREDITFLOW_STORAGE_URL", f"memory://{bucket}/from-variable")
    plans = hooks.storage("plans")
    assert plans.url == f"memory:///{bucket}/from-variable/plans" and plans.local_path() is None
    plans.write_text("2026/plan.json", "{}")
    assert hooks.storage("plans").read_text("2026/plan.json") == "{}"  # another call, the same place


def test_airflow_object_storage_builds_the_filesystem_from_the_connection(hooks, monkeypatch):
    """s3:// (or any scheme a provider registers for ObjectStoragePath) goes through Airflow's get_fs with
    the creditflow_storage connection — here a stand-in for the Amazon provider's s3 filesystem."""
    import airflow.sdk.io as aio

    calls = []
    memory = fsspec.filesystem("memory")

    def get_fs(scheme, conn_id=None, storage_options=None):
        calls.append((scheme, conn_id, storage_options))
        return memory

    monkeypatch.setattr(aio, "has_fs", lambda scheme: scheme == "s3")
    monkeypatch.setattr(aio, "get_fs", get_fs)
    monkeypatch.setenv("AIRFLOW_CONN_CREDITFLOW_STORAGE", json.dumps(
        {"conn_type": "aws", "login": "minio", "password": "minio-secret",
         "extra": {"endpoint_url": "http://127.0.0.1:9000", "base_url": "s3://creditflow/zhuhai",
                   "storage_options": {"s3": {"addressing_style": "path"}}}}))
    gx = hooks.storage("gx")
    assert calls == [("s3", "creditflow_storage", {"s3": {"addressing_style": "path"}})]
    assert gx.fs is memory and gx.root == "/creditflow/zhuhai/gx"


def test_plans_are_written_and_read_through_object_storage(hooks, monkeypatch):
    from types import SimpleNamespace

    from creditflow.planning import pdf, store
    from creditflow.planning import xlsx as xlsx_mod

    monkeypatch.setenv("AIRFLOW_VAR_CREDITFLOW_STORAGE_URL", f"memory://cf-{uuid.uuid4().hex[:8]}")
    doc = {"summary": {"year": 2026}, "key_list": [{"name": "张三经营部 440402199001010014"}], "diff": {"left": [1]}}
    monkeypatch.setattr(store, "plan_document", lambda plan: doc)
    monkeypatch.setattr(xlsx_mod, "write_xlsx", lambda plan, p: p.write_bytes(b"PK xlsx"))
    monkeypatch.setattr(pdf, "write_pdf", lambda plan, p: p.write_bytes(b"%PDF"))
    plans = hooks.storage("plans")
    saved = store.save_plan(SimpleNamespace(year=2026), plans.child("2026"))
    assert saved == {"xlsx": plans.url_of("2026/inspection_plan_2026.xlsx"),
                     "pdf": plans.url_of("2026/inspection_plan_2026.pdf"), "json": plans.url_of("2026/plan.json")}
    assert plans.read_bytes("2026/inspection_plan_2026.pdf") == b"%PDF"
    text = plans.read_text("2026/plan.json")
    assert "4404**********0014" in text and "440402199001010014" not in text
    assert store.read_plan(plans.child("2026"))["summary"] == {"year": 2026}
    assert store.read_plan(plans.child("2025")) is None
    plans.write_text("2025/plan.json", json.dumps({"summary": {"year": 2025}}))
    assert store.previous_plan(plans.child("2026"), 2026) == {"summary": {"year": 2025}}
    listed = store.list_plans(plans)
    assert [p["year"] for p in listed] == [2026, 2025]
    assert listed[0]["files"]["pdf"] == plans.url_of("2026/inspection_plan_2026.pdf") and listed[0]["key_left"] == 1
    assert set(listed[1]["files"]) == {"json"}
    assert not (hooks.var_dir() / "plans").exists()  # nothing on the local disk


def test_daily_runs_and_history_loads_take_the_same_variables(hooks, monkeypatch):
    """One wiring for sgs_<kind> and sgs_history: a Variable an operator sets reaches both (the history
    load once ignored creditflow_receipt_wait_seconds)."""
    monkeypatch.setenv("AIRFLOW_VAR_CREDITFLOW_RECEIPT_WAIT_SECONDS", "42")
    monkeypatch.setenv("AIRFLOW_VAR_CREDITFLOW_UPLOAD_BATCH_SIZE", "7")
    monkeypatch.setenv("AIRFLOW_VAR_CREDITFLOW_DATA_SOURCE_USCC", "11440400MB2C91734X")
    options = hooks.sgs_options(engine=None)
    assert (options.receipt_timeout, options.batch_size, options.data_source_uscc) == (42.0, 7, "11440400MB2C91734X")
    for name in ("RECEIPT_WAIT_SECONDS", "UPLOAD_BATCH_SIZE", "DATA_SOURCE_USCC"):
        monkeypatch.delenv(f"AIRFLOW_VAR_CREDITFLOW_{name}")
    defaults = hooks.sgs_options(engine=None)
    assert (defaults.receipt_timeout, defaults.batch_size, defaults.data_source_uscc) == (600.0, 200, None)
    import pathlib
    root = pathlib.Path(__file__).resolve().parents[2]
    # sgs_<kind>'s tasks are wired in include/creditflow_airflow/sgs_tasks.py (issue #17: four tasks)
    for wiring in ("include/creditflow_airflow/sgs_tasks.py", "dags/sgs_history.py"):
        text = (root / wiring).read_text(encoding="utf-8")
        assert "sgs_options(engine)" in text and "Variable.get" not in text, wiring
