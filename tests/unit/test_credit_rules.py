"""Credit rules as data: every period, situation and condition carries a source and a mark; publicity
follows the rule set in force on the decision date (Order 58 until 2026-03-31, Order 36 from 2026-04-01);
working-day periods fall on the official calendar; roles keep one person from proposing and approving."""

from __future__ import annotations

import datetime as dt

import pytest
import yaml
from creditflow.credit import candidates, rules
from creditflow.credit.roles import NotPermitted, Reviewer, load_roles, parse_roles

D = dt.date


def test_every_rule_names_its_source_and_mark():
    for s in rules.situations():
        assert s.source and s.mark.split("/")[0] in ("S", "M", "local"), s.id
    assert len(rules.situations()) == 9
    assert {s.group for s in rules.situations()} == {"accident", "no_accident"}
    assert sum(s.group == "accident" for s in rules.situations()) == 5
    for c in rules.early_removal_conditions():
        assert c["check"] in ("data", "request", "reviewer") and c["mark"] in ("S", "M", "local"), c
    for rid in ("list_publication_due_soon", "list_removal_decision", "list_revisit_after_penalty_change",
                "repair_notice_delivery", "repair_acceptance", "repair_decision", "repair_extension",
                "list_objection_period", "list_publication", "list_management_period", "list_early_removal_after"):
        ref = rules.ref(rid, D(2026, 6, 1))
        assert ref["source"] and ref["mark"] in ("S", "M", "local"), rid
    for key, spec in rules.integrity_policy()["purposes"].items():
        assert spec["source"] and spec["mark"], key


@pytest.mark.parametrize(("decided", "cats", "party", "expected"), [
    # Order 58: every 应急 penalty is 安全生产 — at least one year, at most three. 民法典 art. 202: the periods end on
    # the corresponding days 2027-03-31 (Wed) and 2029-03-31 — a Saturday, so art. 203 moves it to Mon 2029-04-02.
    (D(2026, 3, 31), ["罚款"], "法人及非法人组织", ("ndrc_order_58", "safety_production", True, "2027-03-31", "2029-04-02")),
    # Order 36 from 1 April 2026: 一般 3 months – 1 year (a 罚款 of unknown amount is not 较小数额: 一般);
    # 2026-07-01 is a Wednesday, 2027-04-01 a Thursday.
    (D(2026, 4, 1), ["罚款"], "法人及非法人组织", ("ndrc_order_36", "general", True, "2026-07-01", "2027-04-01")),
    # 严重 1 – 3 years: 2029-04-01 is a Sunday → Monday 2029-04-02.
    (D(2026, 4, 1), ["罚款", "责令停产停业"], "个体工商户", ("ndrc_order_36", "serious", True, "2027-04-01", "2029-04-02")),
    # 轻微: not published, no minimum period, at most 3 months if a department publishes it.
    (D(2026, 4, 1), ["警告"], "法人及非法人组织", ("ndrc_order_36", "minor", False, None, "2026-07-01")),
    # Natural persons' penalties are shared, not published [M].
    (D(2026, 4, 1), ["罚款"], "自然人", ("ndrc_order_36", "general", False, "2026-07-01", "2027-04-01")),
])
def test_publicity_by_decision_date(decided, cats, party, expected):
    pub = rules.publicity(decided, cats, party)
    assert (pub.regime_id, pub.penalty_class, pub.published, pub.min_until and pub.min_until.isoformat(),
            pub.max_until.isoformat()) == expected
    # 民法典 art. 203: the minimum period ends at 24:00 of its last day — repair may be asked the day after.
    assert pub.earliest_repair == (pub.min_until + dt.timedelta(days=1) if pub.min_until else decided)
    assert pub.rules[0]["id"] == expected[0]


def test_working_day_periods_skip_holidays():
    # Notice received on the eve of the 2026 Spring Festival (15–23 Feb off; Sat 14 and 28 Feb worked).
    assert rules.due("list_objection_period", D(2026, 2, 13)) == D(2026, 2, 27)
    assert rules.due("list_publication", D(2026, 4, 28)) == D(2026, 5, 28)  # Labour Day 1–5 May, Sat 9 May worked
    assert rules.due("list_revisit_after_penalty_change", D(2026, 9, 30)) == D(2026, 10, 10)  # a 调休 Saturday
    assert rules.due("list_management_period", D(2026, 2, 28)) == D(2029, 2, 28)
    assert rules.due("list_early_removal_after", D(2026, 2, 28)) == D(2027, 2, 28)


def test_repair_notice_wording_follows_the_regime():
    assert "已作出信用承诺" in rules.regime_notice_text("ndrc_order_36")["conditions_zh"]
    assert rules.regime_notice_text("ndrc_order_58")["where_zh"].startswith("“信用中国”")
    assert rules.gets_repair_notice("法人及非法人组织") and not rules.gets_repair_notice("自然人")


def _row(violation: str, basis: str = "《安全生产法》第九十七条", status: str = "VALID") -> dict:
    at = dt.datetime(2026, 5, 6, 10)
    return {"decision_id": "D1", "doc_no": "珠应急罚〔2026〕1号", "decision_date": D(2026, 5, 6), "penalty_codes": "FK",
            "fine_yuan": 50000, "status": status, "created_at": at, "party_type": "ENT", "party_name": "某公司",
            "party_uscc": "91440400MA4UABCD1N", "person_id_no": None, "violation_type": violation, "legal_basis": basis,
            "facts": f"经查，该单位{violation}。", "content": "罚款人民币5万元", "authority_name": "珠海市应急管理局",
            "authority_uscc": "11440400MB2C123457"}


def test_candidates_come_from_the_penalties_the_situations_describe():
    assert [c["situation_id"] for c in candidates.from_penalties([_row("未取得危险化学品经营许可证从事危险化学品经营")])] == ["art7_1"]
    assert [c["situation_id"] for c in candidates.from_penalties([_row("出具虚假检测报告")])] == ["art7_2"]
    found = candidates.from_penalties([_row("发生生产安全事故负有责任", basis="《安全生产法》第一百一十四条第二款")])
    assert [c["situation_id"] for c in found] == ["art6_3"]
    assert found[0]["facts"].startswith("你（单位）发生生产安全事故负有责任") and "第六条第（三）项" in found[0]["basis"]
    assert candidates.from_penalties([_row("未将事故隐患排查治理情况如实记录")]) == []
    assert candidates.from_penalties([_row("未取得许可证擅自经营", status="REVOKED")]) == []


def test_accident_candidates(tmp_path):
    import sqlalchemy as sa
    from creditflow_sandbox.generator import create_case_schema

    engine = sa.create_engine(f"sqlite:///{tmp_path}/case.sqlite")
    create_case_schema(engine)
    ent = {"district_code": "440402", "district_name": "香洲区", "industry": "危险化学品", "key_supervision": 1,
           "created_at": dt.datetime(2025, 1, 1), "updated_at": dt.datetime(2025, 1, 1)}
    with engine.begin() as conn:
        for i, uscc in enumerate(("91440400MA4UABCD1N", "91440400MB2C12345Y")):
            conn.execute(sa.text("INSERT INTO enterprise (ent_id, uscc, ent_name, ent_kind, district_code, district_name,"
                                 " industry, key_supervision, created_at, updated_at) VALUES (:e, :u, :n, 'ENT', "
                                 ":district_code, :district_name, :industry, :key_supervision, :created_at, :updated_at)"),
                         {"e": f"E{i}", "u": uscc, "n": f"公司{i}", **ent})
        for aid, ent_id, day, level, concealed in (("A1", "E0", D(2026, 1, 5), "较大", 0), ("A2", "E0", D(2026, 9, 1), "较大", 0),
                                                   ("A3", "E1", D(2026, 6, 1), "一般", 1), ("A4", "E1", D(2024, 1, 1), "重大", 0)):
            conn.execute(sa.text("INSERT INTO accident (accident_id, ent_id, occurred_on, accident_level, deaths, injuries,"
                                 " concealed) VALUES (:a, :e, :d, :l, 3, 1, :c)"),
                         {"a": aid, "e": ent_id, "d": day, "l": level, "c": concealed})
    found = {c["case_id"]: c for c in candidates.from_accidents(engine, D(2026, 11, 1))}
    assert set(found) == {"SX-art6_2-A1-A2", "SX-art6_4-A3"}  # the 2024 重大 accident is outside the window
    assert "瞒报" in found["SX-art6_4-A3"]["facts"]


def test_roles_keep_proposer_and_approver_apart():
    roles = load_roles()
    assert roles.may("propose", Reviewer("reviewer1")) and not roles.may("approve", Reviewer("reviewer1"))
    with pytest.raises(NotPermitted, match="同一人"):
        roles.require_approver(Reviewer("chief"), "chief")
    roles.require_approver(Reviewer("chief"), "reviewer1")
    custom = parse_roles(yaml.safe_load("actions: {record: {roles: [Op]}, propose: {users: [a]}, approve: {users: [b]}}"))
    assert custom.may("record", Reviewer("x", ("op",))) and not custom.may("approve", Reviewer("a"))
    with pytest.raises(ValueError):
        parse_roles({"actions": {"record": {}}})


def test_the_unverified_start_of_order_36s_decision_limit_is_marked_m():
    # Order 36's 7 working days come from a secondary summary and their start (acceptance) is not verified
    assert rules.ref("repair_decision", dt.date(2026, 6, 1))["mark"] == "M"
    assert rules.purpose("procurement")[1]["mark"] == "M"  # as SOURCES.md says since the review of #16


def test_every_event_the_credit_penalties_record_has_chinese_words():
    """A clerk never reads a bare event token (the pages show credit_zh); the events added after the review of #16
    included. The actions are read from the module's own event(...) calls."""
    import re
    from pathlib import Path

    from creditflow.credit import penalties
    from creditflow_ui.i18n import credit_zh

    source = Path(penalties.__file__).read_text(encoding="utf-8")
    actions = set(re.findall(r'event\(conn, [^,]+, "([a-z_]+)"', source))
    assert {"repair_notice_reissued", "penalty_reclassified", "repair_accepted", "repair_extended"} <= actions
    assert [a for a in sorted(actions) if credit_zh(a).startswith("未知")] == []
