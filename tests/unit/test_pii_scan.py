"""The auditor's scan (creditflow.audit.pii_scan) on synthetic bytes, SQLite files and the CLI."""

from __future__ import annotations

import base64
import hashlib
import json
import sqlite3

import pytest
from creditflow.audit import pii_scan as ps
from creditflow.cli import main
from creditflow.common import mask_id
from creditflow.core import identifiers as ids


def _ric(first17: str) -> str:
    return first17 + ids.ric_check_char(first17)


RIC = _ric("44040219900101001")          # 香洲区, born 1990-01-01
OTHER = _ric("43010219840412645")         # not in the manifest
USCC = "91440402MA4UL0QXH5"
TRUTH = ps.Truth(ids={RIC}, names={"王小明", "李娜"}, enterprises={"珠海李娜达化工有限公司"}, legal_reps={"赵强"})


def _kinds(data: bytes, truth=TRUTH, packed=False) -> dict[str, int]:
    return dict(ps.scan_bytes(data, truth, packed=packed).counts)


def test_a_clear_id_is_found_in_text_json_and_copy_lines():
    assert RIC[:6] == "440402" and ids.is_valid_ric(RIC) and ids.is_valid_ric(OTHER)
    assert _kinds(f"当事人身份证号{OTHER}，已处罚".encode(), None) == {"id": 1}
    assert _kinds(json.dumps({"k": f"号{OTHER}"}).encode(), None) == {"id": 1}   # after a \\uXXXX escape
    assert _kinds(json.dumps({"k": f"中{OTHER}"}).encode(), None) == {"id": 1}   # \\u4e2d ends in a letter
    assert _kinds(json.dumps({"k": f"号7{OTHER}"}).encode(), None) == {}         # a 19-digit run after the escape
    assert _kinds(f"1\tline\\n{OTHER}\tx\n".encode(), None) == {"id": 1}        # pg_dump COPY escape
    assert _kinds(OTHER.lower().encode(), None) == {"id": 1}


def test_masked_ids_uscc_digests_and_tokens_are_not_findings():
    digest = hashlib.sha256(RIC.encode()).hexdigest()
    token = base64.b64encode(hashlib.sha256(OTHER.encode()).digest() * 3).decode()
    for text in (mask_id(OTHER), USCC, digest, token, f"{OTHER}7", f"9{OTHER}", f"ab{OTHER}", f"{OTHER}cd",
                 _ric("44040219900101001")[:-1] + ("0" if RIC[-1] != "0" else "1"),   # wrong check digit
                 _ric("99999919900101001"), _ric("44040230000101001")):                # unknown area, future birth
        assert _kinds(text.encode(), None) == {}, text


def test_a_manifest_id_is_found_anywhere_even_inside_longer_runs():
    assert _kinds(f"x{RIC}99".encode()) == {"manifest_id": 1}
    assert _kinds(f"{RIC}".encode()) == {"id": 1}   # counted once, as what it is


def test_a_raw_database_page_with_columns_side_by_side_is_searched_window_by_window():
    page = f"P0000001王小明RIC{OTHER}2026-11-02 10:00:00".encode()
    assert _kinds(page, None) == {}                  # as text, "RIC" and the date touch the digits …
    assert _kinds(page, None, packed=True) == {"id": 1}   # … in a page they are only the next column


def test_names_in_utf8_and_in_json_escapes_but_not_inside_an_enterprise_name():
    assert _kinds("当事人：王小明".encode()) == {"name": 1}
    assert _kinds(json.dumps({"name": "王小明"}).encode()) == {"name": 1}
    assert _kinds(json.dumps({"name": "李娜"}, ensure_ascii=False).encode()) == {"name": 1}
    assert _kinds("珠海李娜达化工有限公司".encode()) == {}
    assert _kinds(json.dumps("珠海李娜达化工有限公司").encode()) == {}
    assert _kinds("王小".encode()) == {}
    assert _kinds(json.dumps({"CF_FRDB": "赵强"}).encode()) == {"legal_rep": 1}


def test_the_report_shows_masked_samples_only():
    place = ps.scan_bytes(f"{RIC} 王小明 李娜".encode(), TRUTH)
    assert place.samples == [mask_id(RIC), "王＊＊", "李＊"]
    src = ps.Source("dir:x", {"f.log": place})
    text = ps.report_text([src])
    assert RIC not in text and "王小明" not in text and "李娜" not in text and "发现3处" in text


@pytest.fixture
def manifest(tmp_path):
    path = tmp_path / "m.jsonl"
    lines = [{"natural_key": f"罚〔2026〕1号|{RIC}", "review": "natural_person",
              "party": {"type": "PER", "name": "王小明", "id_type": "RIC", "id_no": RIC}},
             {"natural_key": f"罚〔2026〕2号|{USCC}",
              "party": {"type": "ENT", "name": "珠海李娜达化工有限公司", "uscc": USCC, "legal_rep": "李娜"}}]
    path.write_text("".join(json.dumps(m, ensure_ascii=False) + "\n" for m in lines), encoding="utf-8")
    return path


def test_manifest_truth(manifest):
    truth = ps.read_manifest_truth(manifest)
    assert truth.ids == {RIC} and truth.names == {"王小明"} and truth.legal_reps == {"李娜"}
    assert truth.enterprises == {"珠海李娜达化工有限公司"}


def test_sqlite_freed_space_keeps_old_values_until_vacuum(tmp_path, manifest):
    db = tmp_path / "w.sqlite"
    conn = sqlite3.connect(db)
    conn.execute("PRAGMA secure_delete=OFF")   # as SQLite is built outside Debian (python.org, macOS)
    conn.execute("CREATE TABLE party (id INTEGER PRIMARY KEY, name TEXT, id_no TEXT)")
    conn.executemany("INSERT INTO party (name, id_no) VALUES (?, ?)", [("王小明", RIC)] * 50)
    conn.commit()
    conn.execute("UPDATE party SET name = 'enc:aGVsbG8=', id_no = 'enc:d29ybGQ='")   # rewritten in place
    conn.commit()
    truth = ps.read_manifest_truth(manifest)
    before = ps.scan_sqlite(db, truth)
    assert not any(n.startswith("table:") for n in before.places)        # no live row holds them …
    assert before.total > 0 and any("VACUUM" in n for n in before.notes)  # … the file's bytes still do
    conn.execute("VACUUM")
    conn.close()
    after = ps.scan_sqlite(db, truth)
    assert after.total == 0 and after.notes == []


def test_sqlite_wal_keeps_old_values_after_a_passive_checkpoint(tmp_path, manifest):
    db = tmp_path / "w.sqlite"
    conn = sqlite3.connect(db)
    conn.execute("PRAGMA secure_delete=ON")
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("CREATE TABLE party (v TEXT)")
    conn.executemany("INSERT INTO party VALUES (?)", [(f"王小明{RIC}",)] * 20)
    conn.commit()
    conn.execute("UPDATE party SET v = 'enc'")
    conn.commit()
    conn.execute("PRAGMA wal_checkpoint(PASSIVE)")   # what SQLite's automatic checkpoint does
    truth = ps.read_manifest_truth(manifest)
    before = ps.scan_sqlite(db, truth)
    assert before.places["bytes:w.sqlite-wal"].total == 40 and "table:party" not in before.places
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    assert ps.scan_sqlite(db, truth).total == 0
    conn.close()


def test_sqlite_wal_sibling_is_scanned(tmp_path, manifest):
    db = tmp_path / "w.sqlite"
    conn = sqlite3.connect(db)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("CREATE TABLE t (v TEXT)")
    conn.execute("INSERT INTO t VALUES (?)", (f"号{RIC}",))
    conn.commit()   # in the -wal file, not yet checkpointed into the database file
    src = ps.scan_sqlite(db, ps.read_manifest_truth(manifest))
    assert src.places["bytes:w.sqlite-wal"].total == 1 and src.places["table:t"].total == 1
    conn.close()


def test_cli_exit_codes_and_directory_scan(tmp_path, manifest, capsys):
    home = tmp_path / "home"
    (home / "logs").mkdir(parents=True)
    (home / "logs" / "clean.log").write_text(f"处理 {mask_id(RIC)} 完成", encoding="utf-8")
    assert main(["audit", "pii-scan", "--manifest", str(manifest), "--dir", str(home)]) == 0
    capsys.readouterr()
    (home / "logs" / "task.log").write_text(json.dumps({"msg": "当事人王小明"}), encoding="utf-8")
    assert main(["audit", "pii-scan", "--manifest", str(manifest), "--dir", str(home), "--json"]) == 1
    out = json.loads(capsys.readouterr().out)
    assert out[0]["places"] == {"logs/task.log": {"counts": {"name": 1}, "samples": ["王＊＊"]}}
    assert main(["audit", "pii-scan"]) == 2
    assert main(["audit", "pii-scan", "--dir", str(tmp_path / "missing")]) == 2


def test_pg_dump_url_forms():
    dsn, extra = ps._libpq("postgresql+psycopg2://postgres@127.0.0.1:5432/h?options=-csearch_path%3Dt_1")
    assert dsn == "postgresql://postgres@127.0.0.1:5432/h" and extra == ["-n", "t_1"]


def test_access_log_query_masking():
    from creditflow_ui.accesslog import masked_query

    assert masked_query(f"code={OTHER}&purpose=x".encode()) == f"code={mask_id(OTHER)}&purpose=x".replace(
        "*", "%2A").encode()
    assert b"%E5%8F%B7" + mask_id(OTHER)[:4].encode() in masked_query(f"q=%E5%8F%B7{OTHER}".encode())
    assert masked_query(f"code={USCC}&x=%E4%B8%AD".encode()) is None
