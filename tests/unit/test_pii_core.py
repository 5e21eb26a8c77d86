"""SM4-GCM sealing and the SM3-HMAC blind index (creditflow.core.pii)."""

from __future__ import annotations

import pytest
from creditflow.common import contains_unmasked_id
from creditflow.core import pii
from creditflow.core.pii import keys as pii_keys
from creditflow.core.pii.sm4 import key_id, reseal

RIC = "44040219900101123X"


def test_seal_round_trip_and_never_the_clear_value():
    ring = pii_keys.generate_keyring()
    token = pii.seal(RIC, ring)
    assert token is not None and token.startswith("sm4g:k1:") and RIC not in token
    assert not contains_unmasked_id(token)
    assert pii.unseal(token, ring) == RIC
    assert pii.seal(RIC, ring) != token  # a fresh nonce per value
    assert pii.seal(None, ring) is None and pii.seal("", ring) == ""
    assert pii.seal(token, ring) == token  # never sealed twice
    assert pii.unseal("张三", ring) == "张三"  # not sealed: as it is


def test_altered_or_foreign_values_do_not_open():
    ring = pii_keys.generate_keyring()
    token = pii.seal("张三", ring)
    assert token is not None
    altered = token[:-2] + ("A" if token[-2] != "A" else "B") + token[-1]
    with pytest.raises(pii.PiiDecryptError):
        pii.unseal(altered, ring)
    with pytest.raises(pii.PiiDecryptError):
        pii.unseal(token, pii_keys.generate_keyring())  # same key id, another key


def test_rotation_keeps_old_values_open_and_reseals_under_the_new_key():
    old = pii_keys.generate_keyring()
    token = pii.seal(RIC, old)
    new = old.with_new_key()
    assert new.active == "k2" and pii.unseal(token, new) == RIC
    moved = reseal(token, new)
    assert moved is not None and key_id(moved) == "k2" and pii.unseal(moved, new) == RIC
    assert reseal(moved, new) == moved


def test_blind_index_is_deterministic_keyed_and_letters_only():
    ring = pii_keys.generate_keyring()
    a, b = pii.blind(RIC, ring=ring), pii.blind(RIC, ring=ring)
    assert a == b and a is not None and a.startswith("bi:") and not any(c.isdigit() for c in a[3:])
    assert pii.blind(RIC, "name", ring) != a
    assert pii.blind(RIC, ring=pii_keys.generate_keyring()) != a
    assert pii.blind(a, ring=ring) == a


def test_keyring_from_the_connection_never_shows_a_key():
    ring = pii_keys.generate_keyring()
    env = {"AIRFLOW_CONN_CREDITFLOW_PII": pii_keys.connection_json(ring)}
    loaded = pii.keyring(env)
    assert loaded.keys == ring.keys and loaded.index_key == ring.index_key
    assert "k1" in repr(loaded) and ring.to_extra()["keys"]["k1"] not in repr(loaded)
    with pytest.raises(pii.PiiKeyError, match="未配置"):
        pii.keyring({})
    with pytest.raises(pii.PiiKeyError):
        pii.Keyring.from_extra({"active": "k9", "keys": {}, "index_key": ""})


def test_personal_fields_of_a_natural_person_and_of_an_organisation():
    from creditflow.core.pii import fields

    ring = pii_keys.generate_keyring()
    person = {"CF_XDR_MC": "张三", "CF_XDR_LB": "自然人", "CF_XDR_ZJHM": RIC, "CF_WSH": "珠应急罚〔2026〕1号"}
    org = {"CF_XDR_MC": "珠海某某有限公司", "CF_XDR_LB": "法人及非法人组织", "CF_FRDB": "李四", "CF_FR_ZJHM": RIC}
    sealed = fields.seal_payload("penalty", person, ring)
    assert sealed["CF_WSH"] == person["CF_WSH"] and "张三" not in str(sealed) and RIC not in str(sealed)
    assert fields.open_payload("penalty", sealed, ring) == person
    sealed_org = fields.seal_payload("penalty", org, ring)
    assert sealed_org["CF_XDR_MC"] == org["CF_XDR_MC"] and "李四" not in str(sealed_org)
    assert fields.open_payload("penalty", sealed_org, ring) == org
    assert fields.party_key(RIC, True, ring) == pii.blind(RIC, ring=ring)
    assert fields.party_key("91440400MA4UXXXX0X", False, ring) == "91440400MA4UXXXX0X"
    assert fields.party_key(RIC, True, ring) in fields.lookup_keys(RIC, ring)


def test_standardised_keys_blind_only_natural_persons():
    import pandas as pd
    from creditflow.core import standard
    from creditflow.reporting import standardise as st

    base = dict.fromkeys(standard.codes("penalty"))
    rows = [{**base, "CF_XDR_LB": "自然人", "CF_XDR_ZJHM": "440402199001011234", "CF_WSH": "珠应急罚〔2026〕1号"},
            {**base, "CF_XDR_LB": "法人及非法人组织", "CF_XDR_SHXYM": "91440400MA00000001", "CF_WSH": "珠应急罚〔2026〕2号"}]
    frame = st.standardise(st.map_source_rows(pd.DataFrame(rows, dtype=object), "district_file", "penalty"), "penalty")
    person, org = frame.to_dict("records")
    assert person["party_key"] == pii.party_key("440402199001011234", True) and person["party_key"].startswith("bi:")
    assert person["natural_key"] == f"珠应急罚〔2026〕1号|{person['party_key']}"
    assert (org["party_key"], org["natural_key"]) == ("91440400MA00000001", "珠应急罚〔2026〕2号|91440400MA00000001")
    clear = st.standardise(st.map_source_rows(pd.DataFrame(rows, dtype=object), "district_file", "penalty"), "penalty",
                           blind_keys=False)
    assert clear["content_hash"].tolist() == frame["content_hash"].tolist()  # hashes never depend on the key


def test_raw_rows_seal_the_source_fields_of_personal_fields():
    from creditflow.reporting.pipeline.common import raw_personal_paths, seal_raw

    assert set(raw_personal_paths("case_db", "penalty")) == {"person_id_no", "legal_rep", "party_name"}
    assert set(raw_personal_paths("licensing_api", "license")) == {"holder.idNo", "holder.legalRep", "holder.name"}
    assert "CF_XDR_ZJHM" in raw_personal_paths("district_file", "penalty")
    raw = {"holder": {"idNo": "440402199001011234", "name": "王五", "uscc": None}, "id": "L1"}
    sealed = seal_raw("licensing_api", "license", raw)
    assert pii.is_sealed(sealed["holder"]["idNo"]) and pii.is_sealed(sealed["holder"]["name"])
    assert sealed["id"] == "L1" and sealed["holder"]["uscc"] is None and "王五" not in str(sealed)
    assert pii.open_all(sealed) == raw and seal_raw("licensing_api", "license", sealed) == sealed


def test_masked_opens_then_masks_personal_fields_only():
    payload = pii.seal_payload("penalty", {"CF_XDR_LB": "自然人", "CF_XDR_MC": "张三丰", "CF_XDR_ZJHM": "440402199001011234",
                                           "CF_NR": "罚款", "CF_CFJG": "珠海市应急管理局"})
    shown = pii.masked(payload)
    assert shown == {"CF_XDR_LB": "自然人", "CF_XDR_MC": "张＊＊", "CF_XDR_ZJHM": "4404**********1234", "CF_NR": "罚款",
                     "CF_CFJG": "珠海市应急管理局"}
    org = {"CF_XDR_LB": "法人及非法人组织", "CF_XDR_MC": "珠海某公司", "CF_FRDB": pii.seal("李四")}
    assert pii.masked(org) == {"CF_XDR_LB": "法人及非法人组织", "CF_XDR_MC": "珠海某公司", "CF_FRDB": "李＊"}


def test_ledger_payload_is_sealed_by_its_one_writer_with_the_clear_hash():
    import json

    from creditflow.core.ledger import queue

    clear = json.dumps({"CF_XDR_LB": "自然人", "CF_XDR_ZJHM": "440402199001011234", "CF_WSH": "X"}, ensure_ascii=False)
    sealed = pii.seal_json("penalty", clear)
    assert "440402199001011234" not in sealed and pii.open_json(sealed) == json.loads(clear)
    assert pii.seal_json("penalty", sealed) == sealed  # sealing twice changes nothing (a re-queued copy)
    org = json.dumps({"CF_XDR_LB": "法人及非法人组织", "CF_WSH": "X"})
    assert pii.seal_json("penalty", org) == org  # nothing personal: the text as it was
    # A payload rebuilt from a stored (sealed) one hashes as its clear form: hashes never depend on a nonce or key.
    assert queue.content_hash(json.loads(clear)) == queue.content_hash(json.loads(sealed))
    assert queue.content_hash(json.loads(clear)) == queue.content_hash(json.loads(pii.seal_json("penalty", clear)))
