"""``creditflow keys rotate``: every sealed value moves to the new key in batches, a kill mid-way loses nothing
and a second run continues; both keys open values until it ends; ``keys new`` / ``keys status`` (#19 §3)."""

from __future__ import annotations

import json

import pytest
import sqlalchemy as sa
from creditflow import cli
from creditflow.core import pii
from creditflow.core import warehouse as wh
from creditflow.core.pii import columns, keys

NOW = "2026-12-06T09:00:00+00:00"
N = 23


@pytest.fixture
def filled(db_url):
    engine = wh.engine_from_url(db_url)
    wh.upgrade(engine)
    ring = keys.keyring()
    clear = {}
    with engine.begin() as conn:
        for i in range(N):
            payload = {"CF_XDR_LB": "自然人", "CF_XDR_MC": f"张{i}", "CF_XDR_ZJHM": f"44040219900101{i:04d}",
                       "CF_WSH": f"珠应急罚〔2026〕{i}号"}
            sealed = pii.seal_payload("penalty", payload, ring)
            clear[("std", f"r{i}")] = payload
            conn.execute(wh.standardised.insert().values(
                run_key="sgs|2026-12-01", record_id=f"r{i}", kind="penalty", source_system="case_db",
                content_hash="h", body_hash="b", payload=json.dumps(sealed, ensure_ascii=False), source_revoked=False))
            conn.execute(wh.staging.insert().values(
                run_key="sgs|2026-12-01", record_id=f"r{i}", kind="penalty", source_system="case_db",
                source_key=f"r{i}", interval_start="2026-12-01", extracted_at=NOW,
                raw_payload=json.dumps({"person_id_no": pii.seal(payload["CF_XDR_ZJHM"], ring), "x": 1})))
            conn.execute(wh.ledger.insert().values(
                kind="penalty", natural_key=f"D{i}|{pii.party_key(payload['CF_XDR_ZJHM'], True, ring)}",
                owner_record_id=f"r{i}", state="accepted", accepted_hash="h", idempotency_key=f"i{i}",
                pending_payload=json.dumps(sealed, ensure_ascii=False), updated_at=NOW))
        conn.execute(wh.credit_case.insert().values(
            case_id="c1", situation_id="S1", party_key=pii.party_key("440402199001010000", True, ring),
            party_type="自然人", party_name=pii.seal("李四", ring), party_code=pii.seal("440402199001010000", ring),
            facts=pii.seal("事实", ring), basis="依据", authority_name="局", authority_uscc="X", state="open",
            created_on="2026-12-01", updated_at=NOW))
    yield engine, ring, clear
    engine.dispose()


def _opened(engine, ring):
    with engine.connect() as conn:
        std = {r.record_id: pii.open_payload("penalty", json.loads(r.payload), ring)
               for r in conn.execute(sa.select(wh.standardised))}
        ledger = {r.owner_record_id: pii.open_json(r.pending_payload, ring) for r in conn.execute(sa.select(wh.ledger))}
        raw = {r.record_id: pii.open_json(r.raw_payload, ring) for r in conn.execute(sa.select(wh.staging))}
        case = conn.execute(sa.select(wh.credit_case)).mappings().one()
    return std, ledger, raw, (pii.unseal(case["party_name"], ring), pii.unseal(case["party_code"], ring),
                              pii.unseal(case["facts"], ring))


def test_rotate_killed_mid_way_resumes_and_ends_with_every_value_under_the_new_key(filled):
    engine, old, clear = filled
    before = _opened(engine, old)
    assert before[0] == {k[1]: v for k, v in clear.items()}
    new = old.with_new_key()
    assert new.active == "k2" and set(new.keys) == {"k1", "k2"}

    class Killed(Exception):
        pass

    def kill(table, done):
        if table == "cf_std" and done >= 10:
            raise Killed

    seen = []
    with pytest.raises(Killed):
        columns.rotate(engine, batch=5, ring=new, progress=lambda t, d, n: seen.append((t, d, n)), after_batch=kill)
    assert ("cf_staging", N, N) in seen and ("cf_std", 10, N) in seen  # progress: table, done/total
    half = columns.status(engine)
    assert half["cf_staging"] == {"k2": N} and half["cf_std"] == {"k1": 2 * (N - 10), "k2": 2 * 10}
    assert half["cf_ledger"] == {"k1": 2 * N}
    assert _opened(engine, new) == before  # both keys open values while the rotation is under way

    done = columns.rotate(engine, batch=5, ring=new)  # the restart continues: what was done stays done
    assert done["cf_staging"] == 0 and done["cf_std"] == N - 10 and done["cf_ledger"] == N
    after = columns.status(engine)
    assert all(set(c) <= {"k2"} for c in after.values()) and after["cf_credit_case"] == {"k2": 3}
    assert _opened(engine, new) == before
    only_new = keys.Keyring({"k2": new.keys["k2"]}, "k2", new.index_key)  # the old key can go now
    assert _opened(engine, only_new) == before
    with pytest.raises(pii.PiiDecryptError):  # and the old keyring alone no longer opens anything
        _opened(engine, old)
    assert columns.rotate(engine, batch=5, ring=new) == {t: 0 for t in done}


def test_cli_new_status_rotate(filled, db_url, monkeypatch, capsys):
    _, old, _ = filled
    assert cli.main(["keys", "new"]) == 0
    out, err = capsys.readouterr()
    conn = json.loads(out)
    new = keys.Keyring.from_extra(conn["extra"])
    assert new.active == "k2" and new.keys["k1"] == old.keys["k1"] and new.index_key == old.index_key
    assert "creditflow keys rotate" in err and conn["extra"]["keys"]["k2"] not in err
    monkeypatch.setenv("AIRFLOW_CONN_CREDITFLOW_PII", out.strip())
    assert cli.main(["keys", "status", "--db", db_url]) == 0
    assert "cf_std: k1: 46" in capsys.readouterr().out
    assert cli.main(["keys", "rotate", "--db", db_url, "--batch", "7"]) == 0
    out = capsys.readouterr().out
    assert "cf_std: 7/23" in out and "cf_std: 23/23" in out and "改用密钥 k2" in out
    assert cli.main(["keys", "status", "--db", db_url]) == 0
    assert "cf_std: k2（当前）: 46" in capsys.readouterr().out


def test_no_keyring_is_a_chinese_error_naming_the_connection(db_url, monkeypatch, capsys):
    monkeypatch.delenv("AIRFLOW_CONN_CREDITFLOW_PII")
    assert cli.main(["keys", "status", "--db", db_url]) == 2
    err = capsys.readouterr().err
    assert "未配置个人信息加密密钥" in err and "creditflow_pii" in err
    assert cli.main(["db", "upgrade", "--db", db_url]) == 2  # the migration that seals needs the keyring
    assert "creditflow_pii" in capsys.readouterr().err
