"""One party through the whole 严重失信名单 lifecycle on fixed dates around the 2025 National Day holiday
(notice → objection → decision → publication → 12 months → early-removal request → removal → revoked
removal → expiry), against the platform sandbox; and penalties through their repair notice, repair and
publicity end under Order 58 and Order 36, across 2026-04-01. The platform must hold each listing and
each removal exactly once, replays included. A case or penalty whose publication is still in flight is
skipped (logged, counted) without blocking the others; two deliveries at once send each record once."""

from __future__ import annotations

import datetime as dt
import json

import pytest
import sqlalchemy as sa
from creditflow.core import warehouse as wh
from creditflow.core.pii import unseal
from creditflow.credit import candidates, documents, lifecycle, penalties, publish
from creditflow.credit.roles import NotPermitted, Reviewer
from creditflow.credit.store import CreditError, events
from creditflow_sandbox import platform
from helpers import ServedApp, platform_client, warehouse

pytestmark = pytest.mark.integration

OFFICER, CHIEF_B, CHIEF = Reviewer("reviewer1"), Reviewer("reviewer2"), Reviewer("chief")
USCC = "91440400MA4UABCD1N"
AUTHORITY = "11440400MB2C123457"
D = dt.date


def case_row(decision_id: str, decided: dt.date, *, violation: str, codes: str = "FK", fine: float | None = 100000,
             status: str = "VALID", party_type: str = "ENT", uscc: str = USCC, doc_no: str | None = None) -> dict:
    at = dt.datetime(decided.year, decided.month, decided.day, 10)
    return {"decision_id": decision_id, "doc_no": doc_no or f"珠应急罚〔{decided.year}〕{decision_id[-4:]}号",
            "decision_date": decided, "penalty_codes": codes, "fine_yuan": fine, "confiscation_yuan": None,
            "licence_affected": None, "violation_type": violation, "facts": f"经查，该单位{violation}。",
            "legal_basis": "《危险化学品安全管理条例》第七十七条第三款", "content": "罚款人民币10万元", "effect_until": None,
            "status": status, "status_changed_at": at if status != "VALID" else None, "created_at": at, "updated_at": at,
            "case_no": "x", "department": "x", "authority_name": "珠海市应急管理局", "authority_uscc": AUTHORITY,
            "party_type": party_type, "party_name": "珠海宏达化工有限公司", "party_uscc": uscc, "legal_rep": "张三",
            "person_id_type": None, "person_id_no": None}


@pytest.fixture
def world(tmp_path, db_url):
    engine = warehouse(db_url)
    with ServedApp(platform.create_app(db_url=f"sqlite:///{tmp_path}/pf.sqlite", processing_seconds=0.0)) as pf:
        yield engine, pf, platform_client(pf.url)
    engine.dispose()


def deliver(engine, client) -> dict:
    return publish.deliver(engine, client, wait=10, poll=0.05)


def state(engine, case_id: str) -> dict:
    with engine.connect() as conn:
        return lifecycle.get_case(conn, case_id)


def history(pf, kind: str) -> list[tuple[str, int]]:
    with pf.app.state.engine.connect() as conn:
        h = platform.history
        return [(r.op, r.version) for r in conn.execute(sa.select(h).where(h.c.kind == kind).order_by(h.c.id))]


def test_listing_lifecycle_around_national_day(world):
    engine, pf, client = world
    row = case_row("D00000017", D(2025, 9, 26), violation="未取得危险化学品经营许可证从事危险化学品经营")
    found = candidates.from_penalties([row])
    assert [c["situation_id"] for c in found] == ["art7_1"]
    assert candidates.propose_all(engine, found, D(2025, 9, 26)) == 1
    assert candidates.propose_all(engine, found, D(2025, 9, 27)) == 0  # a re-run proposes nothing twice
    case_id = found[0]["case_id"]

    # The DAG proposed; people decide, never one person alone.
    lifecycle.propose(engine, case_id, "issue_notice", OFFICER, D(2025, 9, 29))
    with pytest.raises(NotPermitted):
        lifecycle.approve(engine, case_id, OFFICER, D(2025, 9, 29), "t")
    with pytest.raises(NotPermitted):
        lifecycle.approve(engine, case_id, Reviewer("viewer"), D(2025, 9, 29), "t")
    assert lifecycle.approve(engine, case_id, CHIEF_B, D(2025, 9, 29), "t") == "notice_issued"
    lifecycle.record_notice_delivery(engine, case_id, D(2025, 9, 30), "直接送达", OFFICER)
    case = state(engine, case_id)
    # 5 working days after 30 Sep: 1–8 Oct are holidays, Sat 11 Oct is a 调休 working day.
    assert case["objection_until"] == "2025-10-14"

    oid = lifecycle.record_objection(engine, case_id, D(2025, 10, 9), "已停止经营并申请许可", OFFICER)
    with pytest.raises(CreditError, match="陈述申辩期至2025-10-14"):
        lifecycle.propose(engine, case_id, "decide_listing", OFFICER, D(2025, 10, 14))
    with pytest.raises(CreditError, match="未处理的陈述申辩"):
        lifecycle.propose(engine, case_id, "decide_listing", OFFICER, D(2025, 10, 15))
    lifecycle.resolve_objection(engine, oid, False, "无证经营事实清楚，意见不予采纳", CHIEF_B, D(2025, 10, 13))
    lifecycle.propose(engine, case_id, "decide_listing", OFFICER, D(2025, 10, 15), note="情节严重")
    assert lifecycle.approve(engine, case_id, CHIEF, D(2025, 10, 15), "t") == "listed"
    case = state(engine, case_id)
    assert (case["list_start"], case["list_end"], case["publication_due"]) == ("2025-10-15", "2028-10-15", "2025-11-12")

    # Publication is due in 20 working days: an alert before it is missed, and after.
    from creditflow.credit.alerts import due_alerts

    assert due_alerts(engine, D(2025, 11, 3)) == []
    assert any(a.startswith("【临期】") and "2025-11-12" in a for a in due_alerts(engine, D(2025, 11, 7)))
    assert any(a.startswith("【逾期】") for a in due_alerts(engine, D(2025, 11, 13)))
    out = deliver(engine, client)
    assert out["published"] == 1 and state(engine, case_id)["state"] == "published"
    assert due_alerts(engine, D(2025, 11, 13)) == []
    assert deliver(engine, client)["dishonest_list"]["records"] == 0  # nothing left to send
    records = pf.admin("GET", "/admin/records?kind=dishonest_list")["records"]
    assert len(records) == 1 and records[0]["data"]["SX_YCRQ"] == "2028-10-15"

    # 12 months: a request before 15 Oct 2026 fails the time condition, and the officer cannot propose approval.
    early = lifecycle.record_removal_request(engine, case_id, D(2026, 9, 30), {"commitment": True}, OFFICER)
    with pytest.raises(CreditError, match="不满足"):
        lifecycle.propose_request(engine, early, "approve", ["penalty_performed", "harm_remedied"], OFFICER)
    lifecycle.propose_request(engine, early, "reject", [], OFFICER)
    assert lifecycle.approve_removal(engine, early, False, D(2026, 10, 9), CHIEF_B, "t") == "rejected"

    rid = lifecycle.record_removal_request(engine, case_id, D(2026, 10, 16), {"commitment": True, "note": "罚款已缴"},
                                           OFFICER)
    with engine.connect() as conn:
        req = conn.execute(sa.select(wh.credit_request).where(wh.credit_request.c.request_id == rid)).mappings().one()
    checks = {c["id"]: c["ok"] for c in json.loads(req["checks"])}
    assert checks == {"min_time": True, "penalty_performed": None, "harm_remedied": None, "no_new_conduct": True,
                      "commitment": True}  # what the data cannot show waits for the reviewer
    assert req["due_on"] == "2026-11-13"  # 20 working days, National Day 2026 behind it
    lifecycle.propose_request(engine, rid, "approve", ["penalty_performed", "harm_remedied"], OFFICER)
    with pytest.raises(NotPermitted):
        lifecycle.approve_removal(engine, rid, True, D(2026, 10, 20), OFFICER, "t")
    assert lifecycle.approve_removal(engine, rid, True, D(2026, 10, 20), CHIEF_B, "t2") == "approved"
    assert state(engine, case_id)["state"] == "removed"
    deliver(engine, client)
    assert pf.admin("GET", "/admin/records?kind=dishonest_list")["records"][0]["status"] == "withdrawn"

    # The removal rested on a false statement: revoked, the listing restored with its original end date.
    with pytest.raises(CreditError, match="写明"):
        lifecycle.propose(engine, case_id, "revoke_removal", OFFICER, D(2026, 11, 10))
    lifecycle.propose(engine, case_id, "revoke_removal", OFFICER, D(2026, 11, 10), note="缴款凭证系伪造")
    lifecycle.approve(engine, case_id, CHIEF_B, D(2026, 11, 10), "t3")
    case = state(engine, case_id)
    assert (case["state"], case["list_end"], case["removed_on"]) == ("listed", "2028-10-15", None)
    deliver(engine, client)
    assert state(engine, case_id)["state"] == "published"
    restored = pf.admin("GET", "/admin/records?kind=dishonest_list")["records"][0]
    assert restored["status"] == "published" and restored["data"]["SX_YCRQ"] == "2028-10-15"

    # End of the management period: removed automatically, sent as a withdrawal.
    assert lifecycle.expire(engine, D(2028, 10, 15), "t4") == {"expired": 0, "inflight": 0}
    assert lifecycle.expire(engine, D(2028, 10, 16), "t4") == {"expired": 1, "inflight": 0}
    deliver(engine, client)
    assert state(engine, case_id)["state"] == "expired"
    assert history(pf, "dishonest_list") == [("create", 1), ("withdraw", 2), ("create", 3), ("withdraw", 4)]

    with engine.connect() as conn:
        trail = [(e["action"], e["actor"]) for e in events(conn, case_id)]
        docs = conn.execute(sa.select(wh.credit_document.c.doc_type).where(
            wh.credit_document.c.subject_id == case_id).order_by(wh.credit_document.c.created_at)).scalars().all()
    assert ("issue_notice", "reviewer2") in trail and ("decide_listing", "chief") in trail
    assert ("propose:decide_listing", "reviewer1") in trail and ("expired", "system") in trail
    assert sorted(docs) == ["list_decision", "list_notice", "removal_decision", "removal_revocation"]


def test_a_crash_after_the_platform_accepted_resends_the_same_batch(world):
    """The ledger is marked sent only after the platform answered: a crash in between leaves the rows
    pending, and the next attempt sends the identical batch — the platform replays it."""
    engine, pf, client = world
    found = candidates.from_penalties([case_row("D00000021", D(2025, 9, 26), violation="未取得安全生产许可证擅自生产")])
    candidates.propose_all(engine, found, D(2025, 9, 26))
    cid = found[0]["case_id"]
    lifecycle.propose(engine, cid, "issue_notice", OFFICER, D(2025, 9, 29))
    lifecycle.approve(engine, cid, CHIEF_B, D(2025, 9, 29), "t")
    lifecycle.record_notice_delivery(engine, cid, D(2025, 9, 30), "邮寄", OFFICER)
    lifecycle.record_objection(engine, cid, D(2025, 10, 9), "放弃陈述申辩", OFFICER, waiver=True)
    lifecycle.propose(engine, cid, "decide_listing", OFFICER, D(2025, 10, 10))  # waived: no need to wait
    lifecycle.approve(engine, cid, CHIEF_B, D(2025, 10, 10), "t")

    real = client.submit_batch
    answers = []

    def crash_after_accept(kind, items, key):
        answers.append(real(kind, items, key))
        raise ConnectionError("worker killed after the platform accepted")

    client.submit_batch = crash_after_accept
    with pytest.raises(ConnectionError):
        publish.send(engine, client, publish.LIST_KIND)
    client.submit_batch = real
    assert publish.send(engine, client, publish.LIST_KIND)["records"] == 1
    deliver(engine, client)
    assert history(pf, "dishonest_list") == [("create", 1)]
    assert pf.admin("GET", "/admin/stats")["batches"] == 1
    assert state(engine, cid)["state"] == "published"


def test_a_revoked_or_changed_penalty_revisits_the_listing(world):
    engine, pf, client = world
    rows = [case_row(f"D0000003{i}", D(2025, 9, 26), violation="未取得危险化学品经营许可证从事危险化学品经营",
                     uscc=u) for i, u in enumerate(("91440400MA4UABCD1N", "91440400MB2C12345Y"))]
    assert rows[1]["party_uscc"]  # a second party
    found = candidates.from_penalties(rows)
    candidates.propose_all(engine, found, D(2025, 9, 26))
    for c in found:
        lifecycle.propose(engine, c["case_id"], "issue_notice", OFFICER, D(2025, 9, 29))
        lifecycle.approve(engine, c["case_id"], CHIEF_B, D(2025, 9, 29), "t")
        lifecycle.record_notice_delivery(engine, c["case_id"], D(2025, 9, 30), "直接送达", OFFICER)
        lifecycle.propose(engine, c["case_id"], "decide_listing", OFFICER, D(2025, 10, 15))
        lifecycle.approve(engine, c["case_id"], CHIEF_B, D(2025, 10, 15), "t")
    deliver(engine, client)
    revoked = {**rows[0], "status": "REVOKED", "status_changed_at": dt.datetime(2026, 9, 30, 9)}
    changed = {**rows[1], "status": "CHANGED", "status_changed_at": dt.datetime(2026, 9, 30, 9)}
    assert lifecycle.follow_penalties(engine, [revoked, changed], "t5") == {"revisit": 1, "annulled": 1, "inflight": 0}
    first, second = (state(engine, c["case_id"]) for c in found)
    assert first["state"] == "annulled"
    assert (second["state"], second["revisit_due"]) == ("revisit", "2026-10-10")  # a 调休 Saturday
    lifecycle.propose(engine, second["case_id"], "maintain_listing", OFFICER, D(2026, 10, 9))
    lifecycle.approve(engine, second["case_id"], CHIEF_B, D(2026, 10, 9), "t6")
    deliver(engine, client)
    assert state(engine, second["case_id"])["state"] == "published"
    # a re-run or backfill of the same interval changes nothing: the change was reviewed already
    assert lifecycle.follow_penalties(engine, [revoked, changed], "t5") == {"revisit": 0, "annulled": 0, "inflight": 0}
    assert state(engine, second["case_id"])["state"] == "published"
    ops = [op for op, _ in history(pf, "dishonest_list")]
    assert sorted(ops) == ["correct", "create", "create", "withdraw"]


def _publish_penalty(engine, client, rec: dict) -> None:
    """What the 双公示 pipeline leaves behind for a published penalty: the platform record and its ledger row."""
    data = {"CF_XDR_MC": rec["party_name"], "CF_XDR_LB": "法人及非法人组织", "CF_XDR_SHXYM": rec["party_key"],
            "CF_FRDB": "张三", "CF_WSH": rec["doc_no"], "CF_WFXW": "x", "CF_SY": "x", "CF_YJ": "x",
            "CF_CFLB": rec["categories"], "CF_NR": "罚款", "CF_NR_FK": "10", "CF_JDRQ": rec["decision_date"],
            "CF_CFJG": "珠海市应急管理局", "CF_CFJGDM": AUTHORITY}
    answer = client.submit_batch("penalty", [{"op": "create", "data": data}], f"sgs-{rec['penalty_id']}")
    assert client.batch_status(answer["batch_id"])["receipts"][0]["status"] == "accepted"
    with engine.begin() as conn:
        conn.execute(wh.ledger.insert().values(
            kind="penalty", natural_key=rec["natural_key"], owner_record_id=rec["penalty_id"],
            party_key=rec["party_key"], doc_key=rec["natural_key"].split("|")[0], decision_date=rec["decision_date"],
            state="accepted", platform_status="published", op="create", accepted_hash="h", pending_hash="h",
            pending_payload=json.dumps(data, ensure_ascii=False), updated_at=wh.now_iso()))


def test_penalties_repair_notice_repair_and_publicity_end_across_order_36(world):
    engine, pf, client = world
    rows = [case_row("D00000101", D(2026, 3, 31), violation="未将事故隐患排查治理情况如实记录", fine=30000),
            case_row("D00000102", D(2026, 4, 1), violation="未将事故隐患排查治理情况如实记录", fine=30000),
            case_row("D00000103", D(2026, 4, 1), violation="未制定应急救援预案", codes="W", fine=None),
            {**case_row("D00000104", D(2026, 4, 1), violation="未培训", party_type="PER", fine=5000),
             "person_id_no": "440402199001010014", "party_name": "李四"}]
    counts = penalties.track(engine, rows)
    assert counts["new"] == 4 and counts["notices"] == 3  # the natural person gets none
    assert penalties.track(engine, rows)["notices"] == 0  # idempotent
    with engine.connect() as conn:
        pens = {r["penalty_id"][-3:]: dict(r) for r in conn.execute(sa.select(wh.credit_penalty)).mappings()}
    a, b, c, person = pens["101"], pens["102"], pens["103"], pens["104"]
    # 民法典 art. 202: periods end on the corresponding day; art. 203: 2029-03-31 is a Saturday → Monday 04-02.
    assert (a["regime_id"], a["penalty_class"], a["publicity_min_until"], a["publicity_max_until"]) == (
        "ndrc_order_58", "safety_production", "2027-03-31", "2029-04-02")
    # Order 36: a 30,000元 fine on an organisation is above the 简易程序 3,000元 (行政处罚法 art. 51) and below
    # 巨额 — 一般, 3 months – 1 year; the minimum's last day is 2026-07-01, repair from the next day.
    assert (b["regime_id"], b["penalty_class"], b["earliest_repair"], b["publicity_max_until"]) == (
        "ndrc_order_36", "general", "2026-07-02", "2027-04-01")
    assert (c["penalty_class"], c["published"], c["status"]) == ("minor", False, "not_published")
    assert (person["published"], person["notice_doc_id"], person["status"]) == (False, None, "not_published")

    # The notice carries its key fields and renders; decisions without a recorded delivery are reported.
    with engine.connect() as conn:
        notice = documents.load(conn, b["notice_doc_id"])
    assert notice["body"]["fields"]["publicity_max_until"] == "2027-04-01"
    assert notice["issued_on"] == "2026-04-01" and notice["doc_no"].startswith("珠应急信修告〔2026〕")
    assert {p["penalty_id"][-3:] for p in penalties.missing_notices(engine, D(2026, 4, 7))} == {"101", "102", "103"}
    penalties.record_notice_delivery(engine, b["penalty_id"], D(2026, 4, 1), "与处罚决定书同时直接送达", OFFICER)
    assert {p["penalty_id"][-3:] for p in penalties.missing_notices(engine, D(2026, 4, 7))} == {"101", "103"}

    for rec in (a, b):
        _publish_penalty(engine, client, rec)
    # Repair of B: too early on 1 July, the minimum period's last day; possible from 2 July (Order 36, 一般: 3 months).
    rid = penalties.record_repair_request(engine, b["penalty_id"], D(2026, 7, 1), {"commitment": True}, OFFICER)
    with pytest.raises(CreditError):
        penalties.propose_request(engine, rid, "approve", ["obligations"], OFFICER)
    penalties.propose_request(engine, rid, "reject", [], OFFICER)
    assert penalties.approve_repair(engine, rid, False, D(2026, 7, 1), CHIEF_B, "r") == "rejected"
    rid = penalties.record_repair_request(engine, b["penalty_id"], D(2026, 7, 2), {"commitment": True}, OFFICER)
    penalties.propose_request(engine, rid, "approve", ["obligations"], OFFICER)
    with pytest.raises(NotPermitted):
        penalties.approve_repair(engine, rid, True, D(2026, 7, 3), OFFICER, "r")
    assert penalties.approve_repair(engine, rid, True, D(2026, 7, 3), CHIEF_B, "r") == "approved"
    deliver(engine, client)

    # A's maximum period (Order 58, 3 years) ends at 24:00 on Monday 2 April 2029 (31 March is a Saturday,
    # 民法典 art. 203): publication stops the day after. C (a warning: 轻微, not published) and the natural
    # person's penalty end without a withdrawal.
    assert penalties.end_publicity(engine, D(2029, 4, 2), "r2")["ended"] == 2
    assert penalties.end_publicity(engine, D(2029, 4, 3), "r2")["ended"] == 1
    deliver(engine, client)
    assert penalties.end_publicity(engine, D(2029, 4, 4), "r3")["ended"] == 0  # already done
    with engine.connect() as conn:
        status = dict(conn.execute(sa.select(wh.credit_penalty.c.penalty_id, wh.credit_penalty.c.status)).all())
    assert {k[-3:]: v for k, v in status.items()} == {"101": "ended", "102": "repaired", "103": "ended",
                                                      "104": "ended"}
    recs = {r["data"]["CF_WSH"]: r["status"] for r in pf.admin("GET", "/admin/records?kind=penalty")["records"]}
    assert recs == {a["doc_no"]: "withdrawn", b["doc_no"]: "withdrawn"}
    assert [op for op, _ in history(pf, "penalty")] == ["create", "create", "withdraw", "withdraw"]


def test_a_penalty_that_lists_the_party_is_serious_under_order_36(world):
    """NDRC Order 36: 严重 includes being put on a 严重失信主体名单 (REGULATIONS.md §0.5 [S]). A 30,000元 fine on an
    organisation is 一般 (3 months – 1 year) until the listing it triggers is decided; then 严重 (1 – 3 years)."""
    engine, _pf, _client = world
    row = case_row("D00000201", D(2026, 5, 6), violation="无证经营危险化学品", fine=30000)
    penalties.track(engine, [row])
    pid = "case_db:D00000201"

    def pen() -> dict:
        with engine.connect() as conn:
            return dict(conn.execute(sa.select(wh.credit_penalty).where(wh.credit_penalty.c.penalty_id == pid))
                        .mappings().one())

    assert (pen()["penalty_class"], pen()["publicity_max_until"]) == ("general", "2027-05-06")
    first_notice = pen()["notice_doc_id"]
    found = candidates.from_penalties([row])
    assert [c["situation_id"] for c in found] == ["art7_1"]  # 部令11号 第七条第（一）项: 无证经营
    candidates.propose_all(engine, found, D(2026, 5, 6))
    cid = found[0]["case_id"]
    lifecycle.propose(engine, cid, "issue_notice", OFFICER, D(2026, 5, 7))
    lifecycle.approve(engine, cid, CHIEF_B, D(2026, 5, 7), "t")
    lifecycle.record_notice_delivery(engine, cid, D(2026, 5, 7), "直接送达", OFFICER)
    lifecycle.propose(engine, cid, "decide_listing", OFFICER, D(2026, 5, 15))
    assert lifecycle.approve(engine, cid, CHIEF_B, D(2026, 5, 15), "t") == "listed"
    # 严重: the minimum year ends 2027-05-06 (a Thursday), repair from 05-07; the three years' corresponding day
    # 2029-05-06 is a Sunday → Monday 2029-05-07 (民法典 arts. 202–203).
    p = pen()
    assert (p["penalty_class"], p["publicity_min_until"], p["earliest_repair"], p["publicity_max_until"]) == (
        "serious", "2027-05-06", "2027-05-07", "2029-05-07")
    assert penalties.track(engine, [row])["changed"] == 0  # the next run keeps it 严重
    # 两书同达: the notice delivered with the decision said 一般, 2027-05-06 at most. A corrected notice is issued (a
    # new document; the first one kept unchanged) with the 严重 periods, awaiting delivery, and the act recorded.
    with engine.connect() as conn:
        docs = {d["doc_id"]: d for d in (dict(r) for r in conn.execute(sa.select(wh.credit_document).where(
            wh.credit_document.c.subject_id == pid)).mappings())}
        acts = [e for e in events(conn, pid) if e["action"] == "repair_notice_reissued"]
    assert len(docs) == 2 and first_notice in docs and p["notice_doc_id"] not in (None, first_notice)
    old_body, new_body = (json.loads(unseal(docs[d]["content"])) for d in (first_notice, p["notice_doc_id"]))
    assert (old_body["fields"]["class"], old_body["fields"]["publicity_max_until"]) == ("general", "2027-05-06")
    assert (new_body["fields"]["class"], new_body["fields"]["publicity_max_until"]) == ("serious", "2029-05-07")
    assert new_body["fields"]["replaces"] == old_body["doc_no"] and "更正并取代" in new_body["paragraphs"][-1]
    assert p["notice_delivered_on"] is None and [a["document_id"] for a in acts] == [p["notice_doc_id"]]
    # the corrected notice's 2 working days of delivery (periods.yaml repair_notice_delivery) run from its issue,
    # not from the decision: not missing on the day it was issued, missing once they have passed
    from creditflow.core.workdays import official_calendar

    issued = D.fromisoformat(str(acts[0]["on_date"])[:10])
    assert pid not in {r["penalty_id"] for r in penalties.missing_notices(engine, issued)}
    late = official_calendar().add_working_days(issued, 3)
    assert pid in {r["penalty_id"] for r in penalties.missing_notices(engine, late)}


def test_the_demo_walks_one_listing_and_one_repair(world, db_url, capsys):
    from creditflow.credit import demo

    engine, pf, _ = world
    for _ in range(2):  # running it again changes nothing
        assert demo.main(["--db", db_url, "--platform", pf.url, "--today", "2026-11-27"]) == 0
    with engine.connect() as conn:
        states = conn.execute(sa.select(wh.credit_case.c.state)).scalars().all()
        repaired = conn.execute(sa.select(wh.credit_penalty.c.status)).scalars().all()
    assert states == ["published"] and repaired == ["repaired"]
    assert len(pf.admin("GET", "/admin/records?kind=dishonest_list")["records"]) == 1
    assert "listing case SX-art7_1-DEMO0001" in capsys.readouterr().out


# --- one case in flight never blocks the others; two deliveries at once send each record once ---------------


def _listed(engine, decision_id: str, uscc: str, decided: dt.date) -> str:
    """A case decided (列入) on ``decided``: its listing is queued on the ledger, not yet sent."""
    found = candidates.from_penalties([case_row(decision_id, D(2025, 9, 26), uscc=uscc,
                                                violation="未取得危险化学品经营许可证从事危险化学品经营")])
    candidates.propose_all(engine, found, D(2025, 9, 26))
    cid = found[0]["case_id"]
    lifecycle.propose(engine, cid, "issue_notice", OFFICER, D(2025, 9, 29))
    lifecycle.approve(engine, cid, CHIEF_B, D(2025, 9, 29), "t")
    lifecycle.record_notice_delivery(engine, cid, D(2025, 9, 30), "直接送达", OFFICER)
    lifecycle.record_objection(engine, cid, D(2025, 9, 30), "放弃陈述申辩", OFFICER, waiver=True)
    lifecycle.propose(engine, cid, "decide_listing", OFFICER, decided)
    lifecycle.approve(engine, cid, CHIEF_B, decided, "t")
    return cid


@pytest.fixture
def first_in_flight(world):
    """Two listings: the second (by case id) published; the first decided a day later and sent, its
    receipt not yet collected — in flight."""
    engine, _pf, client = world
    second = _listed(engine, "D00000042", "91440400MB2C12345Y", D(2025, 10, 15))
    deliver(engine, client)
    first = _listed(engine, "D00000041", USCC, D(2025, 10, 16))
    assert publish.send(engine, client, publish.LIST_KIND)["records"] == 1
    assert first < second and state(engine, first)["state"] == "listed"
    assert state(engine, second)["state"] == "published"
    return first, second


def test_expiry_skips_the_case_in_flight_and_removes_the_others(world, first_in_flight, caplog):
    engine, pf, client = world
    first, second = first_in_flight
    with caplog.at_level("WARNING", logger="creditflow.credit.lifecycle"):
        assert lifecycle.expire(engine, D(2028, 10, 17), "e1") == {"expired": 1, "inflight": 1}
    assert state(engine, first)["state"] == "listed" and state(engine, second)["state"] == "expired"
    assert any(first in r.getMessage() and "尚未收到平台回执" in r.getMessage() for r in caplog.records)
    deliver(engine, client)  # the receipt comes in; the other's withdrawal goes out
    assert state(engine, first)["state"] == "published"
    assert lifecycle.expire(engine, D(2028, 10, 18), "e2") == {"expired": 1, "inflight": 0}  # the next run
    deliver(engine, client)
    assert lifecycle.expire(engine, D(2028, 10, 19), "e3") == {"expired": 0, "inflight": 0}
    assert state(engine, first)["state"] == "expired"
    records = {r["data"]["SX_LRRQ"]: r["status"] for r in pf.admin("GET", "/admin/records?kind=dishonest_list")["records"]}
    assert records == {"2025-10-15": "withdrawn", "2025-10-16": "withdrawn"}
    assert sorted(op for op, _ in history(pf, "dishonest_list")) == ["create", "create", "withdraw", "withdraw"]


def test_a_revoked_penalty_in_flight_is_annulled_once_its_receipt_is_in(world, first_in_flight):
    engine, pf, client = world
    first, second = first_in_flight
    changed = dt.datetime(2026, 9, 30, 9)
    revoked = [{**case_row(f"D0000004{i}", D(2025, 9, 26), violation="x"), "status": "REVOKED",
                "status_changed_at": changed} for i in (1, 2)]
    assert lifecycle.follow_penalties(engine, revoked, "f1") == {"revisit": 0, "annulled": 1, "inflight": 1}
    assert state(engine, first)["state"] == "listed" and state(engine, second)["state"] == "annulled"
    # a re-run of the interval before the receipt: still waiting, remembered once
    assert lifecycle.follow_penalties(engine, revoked, "f1") == {"revisit": 0, "annulled": 0, "inflight": 1}
    with engine.connect() as conn:
        assert [e["action"] for e in events(conn, first)].count(lifecycle.DEFERRED) == 1
    deliver(engine, client)
    # the next day's interval no longer holds the revoked row: the remembered revocation is done anyway
    assert lifecycle.follow_penalties(engine, [], "f2") == {"revisit": 0, "annulled": 1, "inflight": 0}
    deliver(engine, client)
    assert lifecycle.follow_penalties(engine, [], "f3") == {"revisit": 0, "annulled": 0, "inflight": 0}
    assert state(engine, first)["state"] == "annulled"
    statuses = [r["status"] for r in pf.admin("GET", "/admin/records?kind=dishonest_list")["records"]]
    assert statuses == ["withdrawn", "withdrawn"]
    assert sorted(op for op, _ in history(pf, "dishonest_list")) == ["create", "create", "withdraw", "withdraw"]


def test_publicity_end_skips_a_penalty_whose_upload_is_in_flight(world, caplog):
    from creditflow.core import ledger

    engine, pf, client = world
    rows = [case_row(f"D0000014{i}", D(2026, 4, 1), violation="未将事故隐患排查治理情况如实记录", fine=30000,
                     uscc=u) for i, u in ((1, USCC), (2, "91440400MB2C12345Y"))]
    penalties.track(engine, rows)
    with engine.connect() as conn:
        pens = [dict(r) for r in conn.execute(sa.select(wh.credit_penalty).order_by(wh.credit_penalty.c.penalty_id))
                .mappings()]
    first, second = pens
    _publish_penalty(engine, client, second)
    with engine.begin() as conn:  # the 双公示 pipeline has queued the first one's upload, not yet answered
        ledger.queue_sgs(conn, "penalty", "sgs_penalty|x", [ledger.Operation(
            natural_key=first["natural_key"], op="create", record_id=first["penalty_id"],
            payload=json.dumps(_platform_data(first), ensure_ascii=False), content_hash="h1",
            party_key=first["party_key"], doc_key=first["doc_no"], decision_date=first["decision_date"],
            expected=None)], wh.now_iso())
    # publicity_max_until is the period's last day (published until 24:00, 民法典 art. 203): stopped the day after
    day = D.fromisoformat(first["publicity_max_until"]) + dt.timedelta(days=1)
    assert penalties.end_publicity(engine, day - dt.timedelta(days=1), "p0")["ended"] == 0
    with caplog.at_level("WARNING", logger="creditflow.credit.penalties"):
        assert penalties.end_publicity(engine, day, "p1") == {"ended": 1, "withdrawals": 1, "waiting": 1}
    assert any(first["doc_no"] in r.getMessage() and "尚未收到平台回执" in r.getMessage() for r in caplog.records)
    deliver(engine, client)  # the credit loop sends its withdrawal only, never the pipeline's row
    # the pipeline's upload is answered (here: the shared loop, as stage 7 runs it)
    ledger.send_pending(engine, client, "penalty", history_run_key=lambda r: "sgs_penalty|x")
    assert ledger.collect_receipts(engine, client, "penalty")["accepted"] == 1
    assert penalties.end_publicity(engine, day + dt.timedelta(days=1), "p2") == {"ended": 1, "withdrawals": 1,
                                                                                  "waiting": 0}
    deliver(engine, client)
    recs = {r["data"]["CF_WSH"]: r["status"] for r in pf.admin("GET", "/admin/records?kind=penalty")["records"]}
    assert recs == {first["doc_no"]: "withdrawn", second["doc_no"]: "withdrawn"}


def _platform_data(rec: dict) -> dict:
    return {"CF_XDR_MC": rec["party_name"], "CF_XDR_LB": "法人及非法人组织", "CF_XDR_SHXYM": rec["party_key"],
            "CF_FRDB": "张三", "CF_WSH": rec["doc_no"], "CF_WFXW": "x", "CF_SY": "x", "CF_YJ": "x",
            "CF_CFLB": rec["categories"], "CF_NR": "罚款", "CF_NR_FK": "10", "CF_JDRQ": rec["decision_date"],
            "CF_CFJG": "珠海市应急管理局", "CF_CFJGDM": AUTHORITY}


def _three_listed(engine) -> list[str]:
    return [_listed(engine, f"D0000005{i}", u, D(2025, 10, 15))
            for i, u in enumerate((USCC, "91440400MB2C12345Y", "91440400MB2C77770U"))]


def _published_events(engine, case_id: str) -> int:
    with engine.connect() as conn:
        return [e["action"] for e in events(conn, case_id)].count("published")


def test_two_deliveries_interleaved_send_each_record_once(world):
    """credit_list's and credit_repair's deliver at the same moment: the second reads the same pending rows
    and sends the same batches while the first is half-way — the platform replays, nothing is applied twice."""
    engine, pf, client = world
    cases = _three_listed(engine)
    other = platform_client(pf.url)
    real = client.submit_batch
    calls = []

    def other_dag_goes_first(kind, items, key):
        if not calls:  # the other DAG's deliver runs to its end between our read and our first send
            calls.append(publish.deliver(engine, other, wait=10, poll=0.05))
        return real(kind, items, key)

    client.submit_batch = other_dag_goes_first
    mine = deliver(engine, client)
    assert calls[0]["dishonest_list"]["records"] == 3 and mine["dishonest_list"]["records"] == 3  # both sent all
    assert pf.admin("GET", "/admin/stats")["batches"] == 3  # ... under the same keys: replayed, not applied
    assert sorted(op for op, _ in history(pf, "dishonest_list")) == ["create"] * 3
    assert all(state(engine, c)["state"] == "published" and _published_events(engine, c) == 1 for c in cases)
    with engine.connect() as conn:
        assert set(conn.execute(sa.select(wh.ledger.c.state)).scalars()) == {"accepted"}


def test_two_deliveries_in_threads_send_each_record_once(world):
    import threading

    engine, pf, _ = world
    cases = _three_listed(engine)
    start, errors = threading.Barrier(2), []

    def run() -> None:
        try:
            start.wait()
            deliver(engine, platform_client(pf.url))
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=run) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert errors == []
    deliver(engine, platform_client(pf.url))  # whatever is left: nothing
    assert sorted(op for op, _ in history(pf, "dishonest_list")) == ["create"] * 3
    assert pf.admin("GET", "/admin/stats")["batches"] == 3
    assert all(state(engine, c)["state"] == "published" and _published_events(engine, c) == 1 for c in cases)


def test_a_stale_receipt_never_overwrites_a_newer_operation(world):
    """Two collectors read the same sent row; the first records its receipt and a person removes the case
    (withdrawal queued); the second's receipt of the old batch must leave the queued withdrawal alone."""
    engine, pf, client = world
    cid = _listed(engine, "D00000061", USCC, D(2025, 10, 15))
    publish.send(engine, client, publish.LIST_KIND)
    real, other, once = client.batch_status, platform_client(pf.url), []

    def the_other_dag_and_a_person_first(batch_id):
        if not once:
            once.append(publish.collect(engine, other))
            rid = lifecycle.record_removal_request(engine, cid, D(2026, 10, 16), {"commitment": True}, OFFICER)
            lifecycle.propose_request(engine, rid, "approve", ["penalty_performed", "harm_remedied"], OFFICER)
            lifecycle.approve_removal(engine, rid, True, D(2026, 10, 20), CHIEF_B, "t2")
        return real(batch_id)

    client.batch_status = the_other_dag_and_a_person_first
    publish.receipts(engine, client, publish.LIST_KIND)
    client.batch_status = real
    with engine.connect() as conn:
        row = publish.ledger_row(conn, publish.LIST_KIND, state(engine, cid)["natural_key"])
    assert (row["state"], row["op"]) == ("pending", "withdraw")
    deliver(engine, client)
    assert pf.admin("GET", "/admin/records?kind=dishonest_list")["records"][0]["status"] == "withdrawn"
