"""Airflow tasks and the API server find the keyring in the environment or, without it, in Airflow's secrets
backend (the connection ``creditflow_pii``); neither is a Chinese error naming the connection (#19 §3)."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
from creditflow.core import pii
from creditflow.core.pii import keys
from creditflow_airflow import hooks


@pytest.fixture
def no_env(monkeypatch):
    monkeypatch.delenv("AIRFLOW_CONN_CREDITFLOW_PII")
    yield
    pii.use_keyring(None)


def test_from_the_secrets_backend_when_the_environment_has_none(no_env, monkeypatch):
    ring = keys.generate_keyring("s1")
    asked = []
    monkeypatch.setattr(hooks, "_connection", lambda conn_id: asked.append(conn_id) or SimpleNamespace(
        extra_dejson=ring.to_extra()))
    with pytest.raises(pii.PiiKeyError):
        pii.keyring()
    hooks.ensure_keyring()
    assert asked == ["creditflow_pii"] and pii.keyring().keys == ring.keys
    assert pii.unseal(pii.seal("张三")) == "张三" and pii.seal("张三").startswith("sm4g:s1:")


def test_neither_is_the_chinese_error(no_env, monkeypatch):
    def missing(conn_id):
        raise LookupError(conn_id)

    monkeypatch.setattr(hooks, "_connection", missing)
    with pytest.raises(pii.PiiKeyError, match=r"未配置个人信息加密密钥.*creditflow_pii"):
        hooks.ensure_keyring()


def test_demo_keyring_is_made_once_private_and_the_deployments_own_wins(tmp_path, monkeypatch):
    import stat

    from airflow_env import airflow_env

    monkeypatch.delenv("AIRFLOW_CONN_CREDITFLOW_PII")
    first = airflow_env(tmp_path, 28399)["AIRFLOW_CONN_CREDITFLOW_PII"]
    assert airflow_env(tmp_path, 28399)["AIRFLOW_CONN_CREDITFLOW_PII"] == first  # once, kept for every process
    assert stat.S_IMODE((tmp_path / "pii.conn").stat().st_mode) == 0o600
    assert keys.keyring({"AIRFLOW_CONN_CREDITFLOW_PII": first}).active == "k1"
    monkeypatch.setenv("AIRFLOW_CONN_CREDITFLOW_PII", "the deployment's")
    assert airflow_env(tmp_path, 28399)["AIRFLOW_CONN_CREDITFLOW_PII"] == "the deployment's"
