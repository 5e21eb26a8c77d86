"""The registry of 诚信审核's machine clients (``creditflow.credit.clients``) and ``creditflow clients …``:
credentials issued once and kept only as a hash, checked in constant time, rotated with a grace period,
revoked at once; the rate limit shared by every API-server worker through Redis."""

from __future__ import annotations

import datetime as dt
import os

import pytest
import sqlalchemy as sa
from creditflow import cli
from creditflow.core import warehouse as wh
from creditflow.credit import clients


@pytest.fixture
def engine(db_url):
    eng = wh.engine_from_url(db_url)
    wh.upgrade(eng)
    yield eng
    eng.dispose()


def ok(engine, token: str, now: dt.datetime | None = None) -> str | None:
    with engine.connect() as conn:
        found = clients.verify(conn, token, now)
    return found.asked_by if found else None


def test_a_credential_is_shown_once_and_only_its_hash_is_kept(engine):
    cred = clients.add(engine, "zh-licensing", "珠海市行政许可审批系统", by="cli:ops")
    prefix, secret = cred.split(".", 1)
    assert prefix == "cfk_zh-licensing" and len(secret) == 43
    assert clients.parse(cred) == ("zh-licensing", secret) and clients.is_credential(cred)
    assert not clients.is_credential("eyJhbGciOiJIUzUxMiJ9.e30.sig")  # an Airflow JWT is never one
    with engine.connect() as conn:
        row = conn.execute(sa.select(wh.api_client)).mappings().one()
    assert secret not in " ".join(str(v) for v in row.values())
    assert row["secret_hash"] == clients.secret_hash("zh-licensing", secret) and row["scope"] == "integrity"
    assert row["created_by"] == "cli:ops" and row["rate_limit"] == clients.DEFAULT_RATE_LIMIT
    assert ok(engine, cred) == "client:zh-licensing"
    assert [r for r in clients.listing(engine) if any(k.endswith("hash") for k in r)] == []


@pytest.mark.parametrize("wrong", ["cfk_zh-licensing.", "cfk_zh-licensing", "cfk_.abc", "cfk_nobody.abc",
                                   "cfk_ZH.abc", "zh-licensing.abc", "", "cfk_zh-licensing.x" + "a" * 300])
def test_anything_but_the_exact_credential_is_refused(engine, wrong):
    cred = clients.add(engine, "zh-licensing", "珠海市行政许可审批系统", by="cli:ops")
    assert ok(engine, wrong) is None
    assert ok(engine, cred[:-1] + ("A" if cred[-1] != "A" else "B")) is None


def test_rotation_keeps_the_old_secret_for_the_grace_period_and_no_longer(engine):
    old = clients.add(engine, "zh-procurement", "珠海市政府采购系统", by="cli:ops")
    new, until = clients.rotate(engine, "zh-procurement", by="cli:ops2", grace=dt.timedelta(hours=2))
    assert until is not None
    end = dt.datetime.fromisoformat(until)
    assert ok(engine, old) == ok(engine, new) == "client:zh-procurement"
    assert ok(engine, old, end - dt.timedelta(seconds=1)) and ok(engine, old, end) is None
    assert ok(engine, new, end + dt.timedelta(days=400))
    newest, until = clients.rotate(engine, "zh-procurement", by="cli:ops", grace=dt.timedelta(0))
    assert until is None and ok(engine, old) is None and ok(engine, new) is None and ok(engine, newest)
    row = next(r for r in clients.listing(engine) if r["client_id"] == "zh-procurement")
    assert row["rotated_by"] == "cli:ops" and row["rotated_at"]


def test_revocation_is_at_once_and_final(engine):
    cred = clients.add(engine, "zh-bidding", "珠海市公共资源交易系统", by="cli:ops")
    old = cred
    cred, _ = clients.rotate(engine, "zh-bidding", by="cli:ops")
    clients.revoke(engine, "zh-bidding", by="cli:ops")
    assert ok(engine, cred) is None and ok(engine, old) is None
    with pytest.raises(ValueError, match=r"已于.*吊销"):
        clients.rotate(engine, "zh-bidding", by="cli:ops")
    with pytest.raises(ValueError, match="已存在"):  # ids are never reused
        clients.add(engine, "zh-bidding", "别的系统", by="cli:ops")
    with pytest.raises(ValueError, match="没有客户端"):
        clients.revoke(engine, "zh-nobody", by="cli:ops")


def test_bad_ids_names_and_limits_are_refused_in_chinese(engine):
    for bad in ("ab", "Zh", "1zh", "zh_lic", "zh.lic", "z" * 33):
        with pytest.raises(ValueError, match="客户端标识"):
            clients.add(engine, bad, "系统", by="x")
    with pytest.raises(ValueError, match="中文名称"):
        clients.add(engine, "zh-x", " ", by="x")
    with pytest.raises(ValueError, match="限流"):
        clients.add(engine, "zh-x", "系统", by="x", rate_limit="lots")
    clients.add(engine, "zh-x", "系统", by="x", rate_limit="20/second")
    clients.set_rate_limit(engine, "zh-x", "5/minute")
    with engine.connect() as conn:
        assert clients.verify(conn, "cfk_zh-x.nope") is None
    assert clients.listing(engine)[0]["rate_limit"] == "5/minute"


def test_the_cli_prints_the_secret_once_and_lists_without_it(db_url, engine, capsys):
    assert cli.main(["clients", "add", "zh-licensing", "--name", "珠海市行政许可审批系统", "--rate", "10/second",
                     "--db", db_url]) == 0
    cred = capsys.readouterr().out.strip().splitlines()[-1]
    assert ok(engine, cred) == "client:zh-licensing"
    assert cli.main(["clients", "list", "--db", db_url]) == 0
    listed = capsys.readouterr().out
    assert "zh-licensing\t珠海市行政许可审批系统\tintegrity\t10/second\t有效" in listed
    assert cred.split(".")[1] not in listed
    assert cli.main(["clients", "rotate", "zh-licensing", "--grace-hours", "1", "--db", db_url]) == 0
    assert "旧凭据有效至" in capsys.readouterr().out
    assert cli.main(["clients", "revoke", "zh-licensing", "--db", db_url]) == 0
    assert cli.main(["clients", "revoke", "zh-licensing", "--db", db_url]) == 2
    assert "吊销，不能再更改" in capsys.readouterr().err
    assert cli.main(["clients", "add", "Bad", "--name", "x", "--db", db_url]) == 2
    assert cli.main(["clients", "rotate", "zh-licensing", "--grace-hours", "-1", "--db", db_url]) == 2


def _redis_url() -> str:
    import redis

    url = "redis://127.0.0.1:6379/6"
    try:
        redis.Redis.from_url(url, socket_connect_timeout=1).ping()
    except redis.RedisError:
        if os.environ.get("CI"):
            raise
        pytest.skip("no Redis on 127.0.0.1:6379")
    return url


def test_the_rate_limit_is_one_count_for_every_worker_through_redis(monkeypatch):
    """Two API-server workers are two processes with a limiter each: on Redis they count one limit together."""
    import uuid

    from creditflow_ui import state
    from limits import parse

    monkeypatch.setenv(state.RATE_LIMIT_STORAGE, _redis_url())
    limit, who = parse("4/minute"), f"test-{uuid.uuid4().hex}"
    state._LIMITER.clear()
    worker1 = state.limiter()
    state._LIMITER.clear()
    worker2 = state.limiter()
    state._LIMITER.clear()
    assert worker1 is not worker2 and type(worker1.storage).__name__ == "RedisStorage"
    hits = [w.hit(limit, "creditflow-integrity", who) for w in (worker1, worker2, worker1, worker2, worker1)]
    assert hits == [True, True, True, True, False]
    assert not worker2.hit(limit, "creditflow-integrity", who)
    monkeypatch.delenv(state.RATE_LIMIT_STORAGE)
    assert type(state.limiter().storage).__name__ == "MemoryStorage"
    state._LIMITER.clear()
