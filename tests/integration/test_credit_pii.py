"""Personal data at rest in the credit tables (#19 §3, ``docs/pii-columns-credit.md``): a natural person's
listing, objection, removal and repair leave no clear ID number and no clear name in any credit table; the
platform still receives them in clear, the party's documents carry the name (the ID number masked), and 诚信审核
finds the person by their ID number through the blind index."""

from __future__ import annotations

import datetime as dt
import io
import json

import pytest
import sqlalchemy as sa
from creditflow.common import contains_unmasked_id, mask_id, mask_name
from creditflow.core import identifiers as ids
from creditflow.core import pii
from creditflow.core import warehouse as wh
from creditflow.credit import candidates, documents, integrity, lifecycle, penalties, publish, render
from creditflow.credit.roles import Reviewer
from creditflow.credit.store import events, opened
from creditflow_sandbox import platform
from helpers import ServedApp, platform_client, warehouse

pytestmark = pytest.mark.integration

OFFICER, CHIEF = Reviewer("reviewer1"), Reviewer("reviewer2")
D = dt.date
NAME = "欧阳明华"
PERSON_ID = "44040219850317002" + ids.ric_check_char("44040219850317002")


def person_row(decision_id: str, decided: dt.date) -> dict:
    at = dt.datetime(decided.year, decided.month, decided.day, 10)
    violation = "未取得危险化学品经营许可证从事危险化学品经营"
    return {"decision_id": decision_id, "doc_no": f"珠应急罚〔{decided.year}〕{decision_id[-4:]}号",
            "decision_date": decided, "penalty_codes": "FK", "fine_yuan": 50000, "confiscation_yuan": None,
            "licence_affected": None, "violation_type": violation,
            "facts": f"经查，{NAME}（身份证号码{PERSON_ID}）{violation}。",
            "legal_basis": "《危险化学品安全管理条例》第七十七条第三款", "content": "罚款人民币5万元", "effect_until": None,
            "status": "VALID", "status_changed_at": None, "created_at": at, "updated_at": at, "case_no": "x",
            "department": "x", "authority_name": "珠海市应急管理局", "authority_uscc": "11440400MB2C123457",
            "party_type": "PER", "party_name": NAME, "party_uscc": None, "legal_rep": None,
            "person_id_type": "身份证", "person_id_no": PERSON_ID}


@pytest.fixture
def world(tmp_path, db_url):
    engine = warehouse(db_url)
    with ServedApp(platform.create_app(db_url=f"sqlite:///{tmp_path}/pf.sqlite", processing_seconds=0.0)) as pf:
        yield engine, pf, platform_client(pf.url)
    engine.dispose()


def credit_values(engine: sa.Engine) -> list[tuple[str, str, str]]:
    """Every text value of every credit table: (table, column, value)."""
    out = []
    with engine.connect() as conn:
        for table in wh.CREDIT_TABLES:
            for row in conn.execute(sa.select(table)).mappings():
                out += [(table.name, col, str(v)) for col, v in row.items() if isinstance(v, str)]
    return out


def test_a_natural_persons_listing_leaves_no_clear_id_or_name_in_the_credit_tables(world):
    engine, pf, client = world
    assert not ids.validate_ric(PERSON_ID)
    row = person_row("D00000101", D(2025, 9, 26))
    assert penalties.track(engine, [row])["new"] == 1
    found = candidates.from_penalties([row])
    assert [c["situation_id"] for c in found] == ["art7_1"]
    candidates.propose_all(engine, found, D(2025, 9, 26))
    cid = found[0]["case_id"]

    lifecycle.propose(engine, cid, "issue_notice", OFFICER, D(2025, 9, 29), note=f"{NAME}系个人无证经营")
    lifecycle.approve(engine, cid, CHIEF, D(2025, 9, 29), "t")
    lifecycle.record_notice_delivery(engine, cid, D(2025, 9, 30), "直接送达", OFFICER)
    oid = lifecycle.record_objection(engine, cid, D(2025, 10, 9), f"{NAME}（{PERSON_ID}）称已停止经营", OFFICER)
    lifecycle.resolve_objection(engine, oid, False, f"{NAME}无证经营事实清楚，不予采纳", CHIEF, D(2025, 10, 13))
    lifecycle.propose(engine, cid, "decide_listing", OFFICER, D(2025, 10, 15), note=f"{NAME}情节严重")
    assert lifecycle.approve(engine, cid, CHIEF, D(2025, 10, 15), "t") == "listed"
    publish.deliver(engine, client, wait=10, poll=0.05)

    with engine.connect() as conn:
        case = lifecycle.get_case(conn, cid)
        decision = documents.load(conn, case["decision_doc_id"])
        trail = events(conn, cid)
    # stored: blind index, sealed name, number and facts; the ledger key built from the blind index
    assert pii.is_blind(case["party_key"]) and case["party_key"] == pii.party_key(PERSON_ID, True)
    assert pii.is_sealed(case["party_name"]) and pii.is_sealed(case["party_code"]) and pii.is_sealed(case["facts"])
    assert case["natural_key"].endswith("|" + case["party_key"])
    assert opened(case)["party_code"] == PERSON_ID and opened(case)["party_name"] == NAME
    assert any(e["comment"] and NAME in e["comment"] for e in trail)  # events() opens the comments
    # the platform receives the listing in clear
    record = pf.admin("GET", "/admin/records?kind=dishonest_list")["records"][0]
    assert (record["data"]["SX_XDR_ZJHM"], record["data"]["SX_XDR_MC"]) == (PERSON_ID, NAME)
    # the party's own document: their name in clear, the ID number masked, in the stored JSON and the DOCX
    assert decision["body"]["addressee"] == NAME and ["身份证号码", mask_id(PERSON_ID)] in [
        list(x) for x in decision["body"]["party_lines"]]
    from docx import Document

    text = "\n".join(p.text for p in Document(io.BytesIO(render.to_docx(decision["body"]))).paragraphs)
    assert NAME in text and mask_id(PERSON_ID) in text and not contains_unmasked_id(text)

    # 诚信审核 finds the person by the ID number typed, through the blind index; the answer and its audit row
    # carry neither the number nor the full name
    answer = integrity.check(engine, [PERSON_ID], asked_by="clerk", channel="cli", as_of=D(2025, 10, 20))[0]
    assert answer["listed"]["on_list"] and answer["verdict"] == "fail"
    assert answer["party_name"] == mask_name(NAME) == "欧＊＊＊" and answer["code"] == mask_id(PERSON_ID)
    with engine.connect() as conn:
        logged = conn.execute(sa.select(wh.credit_check_log)).mappings().one()
    assert NAME not in logged["answer"] and not contains_unmasked_id(logged["answer"] + logged["query"])
    assert json.loads(logged["answer"])["party_name"] == "欧＊＊＊"

    # early removal with the applicant's evidence
    rid = lifecycle.record_removal_request(engine, cid, D(2026, 10, 16),
                                           {"commitment": True, "note": f"{NAME}（{PERSON_ID}）罚款已缴"}, OFFICER)
    lifecycle.propose_request(engine, rid, "approve", ["penalty_performed", "harm_remedied"], OFFICER)
    assert lifecycle.approve_removal(engine, rid, True, D(2026, 10, 20), CHIEF, "t2") == "approved"
    with engine.connect() as conn:
        pen = conn.execute(sa.select(wh.credit_penalty)).mappings().one()
    assert pii.is_blind(pen["party_key"]) and pen["party_key"] == case["party_key"]
    assert pen["natural_key"].endswith("|" + pen["party_key"]) and pii.is_sealed(pen["party_name"])
    assert pen["status"] == "not_published"  # a natural person's penalty is not published: nothing to repair

    values = credit_values(engine)
    tables = {t for t, _, _ in values}
    assert {"cf_credit_case", "cf_credit_event", "cf_credit_objection", "cf_credit_request", "cf_credit_penalty",
            "cf_credit_document", "cf_credit_check_log"} <= tables
    leaks = [(t, c) for t, c, v in values if contains_unmasked_id(v) or NAME in v or NAME[1:] in v]
    assert leaks == []


def test_the_integrity_check_finds_an_organisation_and_an_old_clear_row_too(world):
    """``lookup_keys``: an organisation's code as it is; a person's row written before the conversion (clear
    ID number) is found as well — the check works before and after the migration."""
    engine, _, _ = world
    base = {"situation_id": "art7_1", "facts": "x", "basis": "x", "authority_name": "x",
            "authority_uscc": "11440400MB2C123457", "state": "published", "list_start": "2025-01-01",
            "list_end": "2028-01-01", "created_on": "2025-01-01", "updated_at": wh.now_iso()}
    with engine.begin() as conn:
        conn.execute(wh.credit_case.insert(), [
            {**base, "case_id": "SX-1", "party_key": "91440400MA4UABCD1N", "party_type": "法人及非法人组织",
             "party_name": "珠海宏达化工有限公司"},
            {**base, "case_id": "SX-2", "party_key": PERSON_ID, "party_type": "自然人", "party_name": NAME}])
    org, person = integrity.check(engine, ["91440400MA4UABCD1N", PERSON_ID], asked_by="clerk", channel="cli",
                                  as_of=D(2025, 6, 1))
    assert org["listed"]["on_list"] and org["party_name"] == "珠海宏达化工有限公司"
    assert person["listed"]["on_list"] and person["party_name"] == "欧＊＊＊"


def test_an_auditor_finds_no_id_number_or_persons_name_in_the_raw_warehouse_file(tmp_path):
    """The check of #19 §3 done the auditor's way on the credit side: generated case-system data through the
    credit loop (penalties tracked, candidates proposed, every natural person's case to its notice with an
    objection naming them, 诚信审核 of each), then the raw SQLite file read as bytes: no ID-shaped digit run, no
    natural person's name (the generator's persons and legal representatives)."""
    from creditflow_sandbox import generator as g

    case_url = f"sqlite:///{tmp_path}/case.sqlite"
    g.generate_to(g.GeneratorConfig(seed=5, decisions=300, start=D(2026, 10, 1), days=30), case_db_url=case_url,
                  manifest=tmp_path / "m.jsonl")
    case_db = sa.create_engine(case_url)
    with case_db.connect() as conn:
        persons = conn.execute(sa.text("SELECT person_name, id_no FROM person")).all()
        reps = conn.execute(sa.text("SELECT legal_rep FROM enterprise WHERE legal_rep IS NOT NULL")).scalars().all()
    names = {p for p, _ in persons} | set(reps)
    assert persons and len(names) > 10

    path = tmp_path / "warehouse.sqlite"
    engine = warehouse(f"sqlite:///{path}")
    rows = penalties.case_rows(case_db, dt.datetime(2026, 9, 1), dt.datetime(2027, 1, 1))
    people = [r for r in rows if r["party_type"] == "PER" and r["status"] == "VALID"]
    assert people, "the generated data has natural persons' penalties"
    penalties.track(engine, rows)
    candidates.propose_all(engine, candidates.from_penalties(rows) + candidates.from_accidents(case_db, D(2026, 11, 30)),
                           D(2026, 11, 30))
    for i, row in enumerate(people):  # a case for each person, opened by an officer, to its objection
        rec = penalties.penalty_record(row)
        assert rec is not None and pii.is_blind(rec["party_key"])
        cid = f"SX-art7_1-M{i}"
        with engine.begin() as conn:
            lifecycle.open_case(conn, {"case_id": cid, "situation_id": "art7_1", "party_type": "自然人",
                                       **{k: rec[k] for k in ("party_key", "party_code", "party_name")},
                                       "facts": pii.seal(str(row["facts"])), "basis": "x", "source_ref": "manual",
                                       "penalty_id": rec["penalty_id"], "authority_name": "珠海市应急管理局",
                                       "authority_uscc": "11440400MB2C123457"}, "reviewer1", D(2026, 11, 30))
        lifecycle.propose(engine, cid, "issue_notice", OFFICER, D(2026, 12, 1), note=f"{row['party_name']}无证经营")
        lifecycle.approve(engine, cid, CHIEF, D(2026, 12, 1), "t")
        lifecycle.record_notice_delivery(engine, cid, D(2026, 12, 2), "直接送达", OFFICER)
        lifecycle.record_objection(engine, cid, D(2026, 12, 3), f"{row['party_name']}（{row['person_id_no']}）申辩",
                                   OFFICER)
    answers = integrity.check(engine, [i for _, i in persons], asked_by="clerk", channel="batch",
                              as_of=D(2026, 12, 6))
    assert all(a["party_name"] is None or "＊" in a["party_name"] for a in answers)
    engine.dispose()

    raw = path.read_bytes()
    assert b"sm4g:" in raw and b"bi:" in raw  # the values are there, sealed and blinded
    assert not contains_unmasked_id(raw.decode("utf-8", "replace"))
    assert not [i for _, i in persons if i.encode() in raw]
    assert [n for n in sorted(names) if n.encode() in raw] == []
