"""Credit consequences by the rule in force (issue #16.2), each case worked out by hand from the rule texts.

* 诚信审核 (procurement, bidding): 重大违法记录 = 责令停产停业、吊销许可证或者执照、较大数额罚款 (政府采购法实施条例
  第十九条); 较大数额罚款 = 200万元以上 (财库〔2022〕3号, in force 2022-02-08).
* Order 36 classes (from 2026-04-01) depend on the fine and the listing, not on the 处罚类别 alone; the impact
  preview, the repair notice and the report's 免于公示 read ONE classification (creditflow.core.publicity).
* Periods count as the 民法典 counts them (arts. 201–203).
* Listing detectors read citations however they are written.
"""

from __future__ import annotations

import datetime as dt

import pandas as pd
import pytest
import sqlalchemy as sa
from creditflow.core import publicity
from creditflow.credit import citations, impact, rules
from creditflow.feedback import figures
from creditflow.feedback.facts import ROW_COLUMNS, Facts
from creditflow.feedback.periods import month

D = dt.date
ORG, PERSON = "法人及非法人组织", "自然人"


# --- 诚信审核: 重大违法记录 -----------------------------------------------------------------------------------


@pytest.mark.parametrize(("decided", "cats", "fine", "expected"), [
    # 财库〔2022〕3号: 「较大数额罚款」认定为200万元以上的罚款 — 150万元 is not, 200万元 is.
    (D(2026, 5, 6), ["罚款"], 1_500_000, False),
    (D(2026, 5, 6), ["罚款"], 1_999_999.99, False),
    (D(2026, 5, 6), ["罚款"], 2_000_000, True),
    # the old 20万元 line is gone: 20万元 alone bars nobody
    (D(2026, 5, 6), ["罚款"], 200_000, False),
    # 实施条例 第十九条: 责令停产停业 / 吊销许可证或者执照 whatever the fine
    (D(2026, 5, 6), ["罚款", "责令停产停业"], 50_000, True),
    (D(2026, 5, 6), ["吊销许可证件"], None, True),
    # In force 2022-02-08: a 3,000,000元 fine decided the day before falls under 第十九条 alone, which fixes no
    # national amount — not judged automatically (None: a person decides).
    (D(2022, 2, 7), ["罚款"], 3_000_000, None),
    (D(2022, 2, 8), ["罚款"], 3_000_000, True),
    # 财库〔2022〕3号 defines 「较大数额罚款」: an amount that comes with 警告 alone is no 罚款 at all
    (D(2026, 5, 6), ["警告"], 5_000_000, False),
    (D(2022, 2, 7), ["警告"], 3_000_000, False),
])
def test_major_violation_by_the_rule_in_force(decided, cats, fine, expected):
    assert rules.major_violation(decided, cats, fine) is expected
    assert rules.major_violation_ref(decided)["mark"] in ("S", "M", "local")


def test_impact_preview_repeats_the_integrity_rule():
    legal = dict(categories=["罚款"], decided=D(2026, 5, 6), party_type=ORG)
    assert impact.preview(impact.Draft(**legal, amount_yuan=1_500_000))["integrity_fail_until"] is None
    # 政府采购法 第二十二条: 参加政府采购活动前三年内 — barred until 2029-05-06
    out = impact.preview(impact.Draft(**legal, amount_yuan=2_000_000))
    assert out["integrity_fail_until"] == "2029-05-06" and out["major_violation"] is True
    assert "major_violation:caiku_2022_3" in {r["id"] for r in out["rules"]}


# --- Order 36 classes: one classification --------------------------------------------------------------------


@pytest.mark.parametrize(("cats", "fine", "party", "listed", "klass"), [
    # 行政处罚法 第五十一条: 简易程序 — 对公民处以二百元以下、对法人或者其他组织处以三千元以下罚款或者警告
    (["罚款"], 2_000, ORG, False, "minor"),
    (["罚款"], 3_000, ORG, False, "minor"),
    (["罚款"], 3_000.01, ORG, False, "general"),
    (["警告", "罚款"], 200, PERSON, False, "minor"),
    (["罚款"], 201, PERSON, False, "general"),
    # 个体工商户: 民法典 第五十四条「自然人从事工商业经营，经依法登记，为个体工商户」 — a 公民, so 二百元 not 三千元
    (["罚款"], 200, "个体工商户", False, "minor"),
    (["罚款"], 2_000, "个体工商户", False, "general"),
    # party type unknown: the lower limit (二百元) — when unsure, not 轻微 (not exempt)
    (["罚款"], 2_000, None, False, "general"),
    (["罚款"], 2_000, "", False, "general"),
    (["罚款"], 200, None, False, "minor"),
    # an amount without 罚款 is no fine: 警告 alone is 轻微 whatever number travels with it (巨额罚款 is a 罚款)
    (["警告"], 5_000_000, ORG, False, "minor"),
    (["警告"], None, ORG, False, "minor"),
    # 没收违法所得 is not a 简易程序 penalty: not 轻微 whatever the fine
    (["罚款", "没收违法所得"], 1_000, ORG, False, "general"),
    # a 罚款 whose amount is unknown cannot be shown to be 较小数额
    (["罚款"], None, ORG, False, "general"),
    (["罚款"], 0, ORG, False, "general"),
    # 严重: 巨额罚款 (200万元 default [M]) and a penalty that puts the party on a 严重失信主体名单
    (["罚款"], 2_000_000, ORG, False, "serious"),
    (["罚款"], 30_000, ORG, True, "serious"),
    (["罚款"], 2_000, ORG, True, "serious"),
])
def test_order_36_class_by_fine_party_and_listing(cats, fine, party, listed, klass):
    c = publicity.classify(D(2026, 5, 1), cats, fine_yuan=fine, party_type=party, listed=listed)
    assert (c.regime_id, c.penalty_class, c.publish) == ("ndrc_order_36", klass, klass != "minor")


def test_before_order_36_the_fine_does_not_change_the_class():
    # Order 58: every 安全生产 penalty is published at least one year, whatever the fine
    c = publicity.classify(D(2026, 3, 31), ["罚款"], fine_yuan=2_000, party_type=ORG)
    assert (c.regime_id, c.penalty_class, c.publish) == ("ndrc_order_58", "safety_production", True)


def _payload(fine_wan: str, party: str = ORG, cats: str = "罚款") -> dict:
    return {"CF_CFLB": cats, "CF_NR_FK": fine_wan, "CF_XDR_LB": party}


def test_a_2000_yuan_fine_is_minor_in_the_preview_and_exempt_in_the_report():
    # 2,000元 on an organisation decided 2026-05-01: ≤ 3,000元 (行政处罚法 第五十一条) → 轻微, not published.
    out = impact.preview(impact.Draft(categories=["罚款"], decided=D(2026, 5, 1), party_type=ORG, amount_yuan=2000))
    assert (out["class"], out["published"]) == ("minor", False)
    assert figures.exemption("penalty", D(2026, 5, 1), False, _payload("0.2")) == "simple_procedure_minor"
    # 5,000元: 一般 — published 3–12 months in the preview, and not 免于公示 in the report
    out = impact.preview(impact.Draft(categories=["罚款"], decided=D(2026, 5, 1), party_type=ORG, amount_yuan=5000))
    assert (out["class"], out["published"]) == ("general", True)
    assert figures.exemption("penalty", D(2026, 5, 1), False, _payload("0.5")) is None


def test_preview_and_report_read_the_same_rule(monkeypatch):
    """Change the one threshold in the data: both answers change together."""
    data = publicity.publicity_rules()
    regimes = [dict(r) for r in data["regimes"]]
    o36 = next(r for r in regimes if r["id"] == "ndrc_order_36")
    o36["fine_classes"] = {**o36["fine_classes"],
                           "minor": {**o36["fine_classes"]["minor"], "fine_max_yuan": {"*": 1000}}}
    monkeypatch.setattr(publicity, "publicity_rules", lambda: {**data, "regimes": regimes})
    out = impact.preview(impact.Draft(categories=["罚款"], decided=D(2026, 5, 1), party_type=ORG, amount_yuan=2000))
    assert (out["class"], out["published"]) == ("general", True)
    assert figures.exemption("penalty", D(2026, 5, 1), False, _payload("0.2")) is None


def test_an_amount_that_failed_validation_is_never_exempt():
    # #16.5: a clerk typed 5 (万元 meant) into the 元 field → CF_NR_FK 0.0005 万元 = 5元; AMOUNT_UNIT quarantines it.
    assert figures.exemption("penalty", D(2026, 5, 6), False, _payload("0.0005")) == "simple_procedure_minor"
    assert figures.exemption("penalty", D(2026, 5, 6), False, _payload("0.0005"), frozenset({"CF_NR_FK"})) is None
    assert figures.exemption("penalty", D(2026, 5, 6), False, _payload("abc")) is None  # not a number
    assert figures.exemption("penalty", D(2026, 5, 6), False, _payload("nan")) is None


def _facts(rows: list[dict], findings: list[dict]) -> Facts:
    frame = pd.DataFrame([{**{c: None for c in ROW_COLUMNS}, **r} for r in rows])
    frame["source_revoked"] = frame["source_revoked"].fillna(False).astype(bool)
    history = pd.DataFrame(columns=["kind", "natural_key", "op", "state", "code", "first_at", "first_run"])
    found = pd.DataFrame(findings, columns=["run_key", "record_id", "field", "rule_id", "message_zh", "detail"])
    return Facts(dt.datetime(2026, 6, 10, tzinfo=dt.UTC), (D(2026, 5, 1), D(2026, 6, 1)), pd.DataFrame(), frame,
                 history, pd.DataFrame(), found, pd.DataFrame(), pd.DataFrame())


def test_the_report_does_not_exempt_a_quarantined_amount():
    run = "sgs_penalty|2026-05-07"
    base = {"run_key": run, "kind": "penalty", "outcome": "quarantined", "decision_date": "2026-05-06",
            "source_system": "case_db", "day": "2026-05-07", "written_at": "2026-05-07T10:00:00+00:00"}
    rows = [{**base, "record_id": "R1", "natural_key": "文号1|x"}, {**base, "record_id": "R2", "natural_key": "文号2|y"}]
    findings = [{"run_key": run, "record_id": "R1", "field": "CF_NR_FK", "rule_id": "AMOUNT_UNIT",
                 "message_zh": "疑似按“元”填报", "detail": ""},
                {"run_key": run, "record_id": "R2", "field": "CF_XDR_SHXYM", "rule_id": "USCC_INVALID",
                 "message_zh": "校验失败", "detail": ""}]
    payloads = {"R1": _payload("0.0005"), "R2": _payload("0.2")}  # R2: a genuine 2,000元 fine, a bad USCC
    rec = figures.records_of(_facts(rows, findings), month("2026-05"), dt.datetime(2026, 6, 10, tzinfo=dt.UTC),
                             lambda frame: {r: payloads[r] for r in frame["record_id"]})
    got = dict(zip(rec["record_id"], rec["status"], strict=True))
    assert got == {"R1": "quarantined", "R2": "exempt"}
    # the quarantined decision stays in 及时率: due 7 working days after 2026-05-06 and not published
    r1 = rec[rec["record_id"] == "R1"].iloc[0]
    assert r1["timely"] is not None and not r1["timely"]


# --- 民法典 counting -------------------------------------------------------------------------------------------


def test_notice_dates_agree_with_the_civil_code():
    # Decided 2026-05-06, 一般 (Order 36, 30,000元): art. 201 — the period starts on 2026-05-07; art. 202 — a
    # 3-month period ends on 2026-08-06 (a Thursday); art. 203 — at 24:00, so repair from 2026-08-07.
    pub = rules.publicity(D(2026, 5, 6), ["罚款"], ORG, fine_yuan=30_000)
    assert (pub.min_until, pub.earliest_repair) == (D(2026, 8, 6), D(2026, 8, 7))
    # Decided 2026-07-03: 3 months → 2026-10-03, inside the National Day holiday (1–7 October 2026, a
    # 法定休假日): art. 203 — the last day is the day after the holiday, Thursday 2026-10-08; repair from 10-09.
    pub = rules.publicity(D(2026, 7, 3), ["罚款"], ORG, fine_yuan=30_000)
    assert (pub.min_until, pub.earliest_repair) == (D(2026, 10, 8), D(2026, 10, 9))


def test_the_repair_notice_says_one_date_twice():
    from creditflow.credit import documents

    pub = rules.publicity(D(2026, 7, 3), ["罚款"], ORG, fine_yuan=30_000)
    pen = {"decision_date": "2026-07-03", "doc_no": "珠应急罚〔2026〕12号", "party_name": "某公司", "party_type": ORG,
           "party_key": "91440400MA4UABCD1N", "categories": "罚款"}
    items = documents.repair_notice_body(pen, pub)["lists"][0]["items"]
    assert items[0] == "最短公示期：自2026年7月4日起至2026年10月8日止；"
    assert "即自2026年10月9日起可申请信用修复" in items[2]


# --- Order 36 repair time limits -------------------------------------------------------------------------------


def test_repair_time_limits_by_the_application_date():
    # Order 36 [S: mpaypass]: accept within 3 working days, decide within 7 (from acceptance), +10 if complex.
    # Received Mon 2026-06-01 → accepted by Thu 06-04 → decided by Mon 06-15; +10 wd skipping the Dragon Boat
    # Festival (Fri 2026-06-19) → Tue 06-30.
    assert rules.repair_due(D(2026, 6, 1)) == D(2026, 6, 15)
    assert rules.repair_due(D(2026, 6, 1), accepted_on=D(2026, 6, 2)) == D(2026, 6, 11)
    assert rules.repair_due(D(2026, 6, 1), complex_case=True) == D(2026, 6, 30)
    # Order 58 (until 2026-03-31) [M]: 5 working days from receipt — Mon 2026-03-02 → Mon 03-09.
    assert rules.repair_due(D(2026, 3, 2)) == D(2026, 3, 9)


# --- listing detectors -----------------------------------------------------------------------------------------


@pytest.mark.parametrize("basis", ["《安全生产法》第114条第2款", "《安全生产法》第一百一十四条第二款",
                                   "《安全生产法》第１１４条第２款", "安全生产法第114条第二款", "安全生产法114条2款",
                                   "《中华人民共和国安全生产法》第一百一十四条 第二款"])
def test_art_6_3_reads_the_citation_however_written(basis):
    # 部令11号 第六条第（三）项: fined under 《安全生产法》第一百一十四条第二款
    assert rules.situation("art6_3").matches_penalty(None, basis, ["罚款"]) is True


def test_other_articles_do_not_match():
    assert rules.situation("art6_3").matches_penalty(None, "《安全生产法》第一百一十四条第一款", ["罚款"]) is False
    assert rules.situation("art6_3").matches_penalty(None, "《安全生产法》第一百四十条第二款", ["罚款"]) is False


@pytest.mark.parametrize("violation", ["无证经营危险化学品", "未取得危险化学品经营许可证从事危险化学品经营",
                                       "未经许可经营危险化学品", "无危险化学品经营许可证经营危险化学品",
                                       "非法经营危险化学品", "危险化学品经营许可证过期后继续经营"])
def test_art_7_1_covers_unlicensed_hazardous_chemicals(violation):
    # 部令11号 第七条第（一）项: 未依法取得安全生产相关许可 … 从事相关生产经营活动
    assert rules.situation("art7_1").matches_penalty(violation, None, ["罚款"]) is True


@pytest.mark.parametrize("violation", [
    "危险化学品经营许可证被吊销后仍从事经营", "安全生产许可证被暂扣后继续生产", "在安全生产许可证暂扣期内从事生产",
    # 安全生产许可证条例 第二十条: 安全生产许可证有效期满未办理延期手续，继续进行生产的 (= 未依法取得许可)
    "安全生产许可证有效期满未办理延期手续，继续进行生产", "未取得安全生产许可证擅自从事生产活动"])
def test_art_7_1_covers_suspended_revoked_and_expired_licences(violation):
    # 部令11号 第七条第（一）项: 「…或者许可被暂扣、吊销期间从事相关生产经营活动」
    assert rules.situation("art7_1").matches_penalty(violation, None, ["罚款"]) is True


@pytest.mark.parametrize("violation", [
    "擅自关闭、破坏直接关系生产安全的监控、报警、防护、救生设备、设施",  # 安全生产法 第九十九条
    "建设项目安全设施未经验收合格擅自投入生产",  # 安全生产法 第九十八条
    "危险化学品储存未经批准", "未按规定取得批准，擅自改变储存场所用途", "使用无证人员从事危险化学品运输"])
def test_art_7_1_is_only_about_licences(violation):
    # 部令11号 第七条第（一）项 is 「未依法取得安全生产相关许可或者许可被暂扣、吊销期间从事相关生产经营活动」 only
    assert rules.situation("art7_1").matches_penalty(violation, None, ["罚款"]) is False


@pytest.mark.parametrize(("violation", "expected"), [
    ("安全评价机构出具虚假安全评价报告", True), ("检测检验机构租借资质", True), ("出具虚假检测报告", True),
    ("企业与劳务派遣公司挂靠", False), ("员工出具虚假证明材料", False)])
def test_art_7_2_is_only_about_assessment_bodies(violation, expected):
    # 部令11号 第七条第（二）项: 「承担安全评价、认证、检测、检验职责的机构及其直接责任人员」租借资质、挂靠、出具虚假报告或者证书
    assert rules.situation("art7_2").matches_penalty(violation, None, ["罚款"]) is expected


@pytest.mark.parametrize("text", ["第114条第（二）款", "第一百一十四条二款", "第一百一十四條第二款", "第114條第(二)款",
                                  "第一百一十四条 第 二 款"])
def test_citations_of_article_114_paragraph_2_in_other_spellings(text):
    # 部令11号 第六条第（三）项 rests on 《安全生产法》第一百一十四条第二款 however the clerk wrote the paragraph
    assert citations.normalise(text) == "第114条第2款"
    assert rules.situation("art6_3").matches_penalty(None, "《安全生产法》" + text, ["罚款"]) is True


def test_citation_items_stay_items():
    assert citations.normalise("第七条第（一）项") == "第7条第1项"
    assert citations.normalise("第一百一十四条第二款第（三）项") == "第114条第2款第3项"
    assert citations.normalise("第七條(一)") == "第7条第1项"


def test_citation_normal_form():
    assert citations.normalise("第七条第（一）项") == citations.normalise("第7条第1项") == "第7条第1项"
    assert citations.chinese_number("一百一十四") == 114 and citations.chinese_number("十") == 10
    assert citations.chinese_number("二千零二十六") == 2026


# --- impact input ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("amount", "decided"), [
    (float("nan"), D(2026, 5, 1)), (float("inf"), D(2026, 5, 1)), (-1.0, D(2026, 5, 1)),
    (300_000_000.0, D(2026, 5, 1)),  # above thresholds.yaml max_plausible_fine_wan (2亿元)
    (1000.0, D(2099, 1, 1)), (1000.0, D(2019, 6, 30)),  # outside the rule data
])
def test_impact_refuses_what_no_rule_covers(amount, decided):
    with pytest.raises(ValueError):
        impact.preview(impact.Draft(categories=["罚款"], decided=decided, party_type=ORG, amount_yuan=amount))


# --- the integrity check reads the same dated rule ------------------------------------------------------------


def _case_row(decision_id: str, uscc: str, decided: dt.date, fine: float) -> dict:
    at = dt.datetime(decided.year, decided.month, decided.day, 10)
    return {"decision_id": decision_id, "doc_no": f"珠应急罚〔{decided.year}〕{decision_id[-3:]}号",
            "decision_date": decided, "penalty_codes": "FK", "fine_yuan": fine, "status": "VALID", "created_at": at,
            "updated_at": at, "party_type": "ENT", "party_name": "某公司", "party_uscc": uscc, "person_id_no": None,
            "authority_name": "珠海市应急管理局", "violation_type": "x", "legal_basis": "x"}


def test_integrity_check_by_the_rule_in_force_on_the_decision_date(db_url):
    from creditflow.core import warehouse as wh
    from creditflow.credit import integrity, penalties

    engine = wh.engine_from_url(db_url)
    wh.upgrade(engine)
    a, b, c = "91440400MA4UABCD1N", "91440400MB2C12345Y", "91440400MA51XR7Q0X"
    penalties.track(engine, [_case_row("D001", a, D(2026, 5, 6), 1_500_000),
                             _case_row("D002", b, D(2026, 5, 6), 2_000_000),
                             _case_row("D003", c, D(2021, 6, 1), 3_000_000)])
    day = D(2026, 6, 1)
    ans = {x["code"]: x for x in integrity.check(engine, [a, b], asked_by="t", channel="cli", purpose="procurement",
                                                    as_of=day)}
    # 财库〔2022〕3号: 150万元 is not a 较大数额罚款, 200万元 is (3 years: 政府采购法 第二十二条)
    assert ans[a]["verdict"] == "pass"
    assert ans[b]["verdict"] == "fail" and "重大违法记录" in ans[b]["reasons"][0] and "2029-05-06" in ans[b]["reasons"][0]
    assert integrity.check(engine, [b], asked_by="t", channel="cli", purpose="bidding", as_of=day)[0]["verdict"] == "fail"
    # Before 2022-02-08 第十九条 fixed no amount: a 300万元 fine is shown for a person to judge, not a failure.
    old = integrity.check(engine, [c], asked_by="t", channel="cli", purpose="procurement", as_of=D(2023, 1, 1))[0]
    assert old["verdict"] == "pass" and any("须人工核实" in r for r in old["reasons"])
    engine.dispose()


def test_a_listing_makes_the_penalty_serious_and_cites_its_rule():
    out = rules.publicity(D(2026, 5, 6), ["罚款"], ORG, fine_yuan=30_000, listed=True)
    assert out.penalty_class == "serious"
    ref = next(r for r in out.rules if r["id"] == "ndrc_order_36:listed")
    assert ref["mark"] == "S" and "mpaypass" in ref["source"]


def test_the_preview_reads_the_one_natural_person_rule(monkeypatch):
    # 201元 on a 自然人 (2026-05-06): above 行政处罚法 第五十一条's 二百元 → 一般, a published class — but natural
    # persons' penalties are not published (publicity.yaml natural_persons, REGULATIONS.md §1.5 [M]).
    out = impact.preview(impact.Draft(categories=["罚款"], decided=D(2026, 5, 6), party_type=PERSON, amount_yuan=201))
    assert (out["class"], out["published"]) == ("general", False)
    assert publicity.unpublished_reason(D(2026, 5, 6), ["罚款"], fine_yuan=201, party_type=PERSON) == "natural_person"
    assert publicity.unpublished_reason(D(2026, 5, 6), ["罚款"], fine_yuan=201, party_type=ORG) == "class"
    data = publicity.publicity_rules()
    monkeypatch.setattr(publicity, "publicity_rules",
                        lambda: {**data, "natural_persons": {**data["natural_persons"], "published": True}})
    out = impact.preview(impact.Draft(categories=["罚款"], decided=D(2026, 5, 6), party_type=PERSON, amount_yuan=201))
    assert out["published"] is True


def test_stored_publicity_dates_follow_the_calendar_published_later(db_url, monkeypatch, tmp_path):
    """民法典 第二百零三条: 「期间的最后一日是法定休假日的，以法定休假日结束的次日为期间的最后一日」. A penalty decided
    2026-01-01 under Order 58 (安全生产: at least 12 months) has its minimum period end on 2027-01-01 (art. 202, the
    corresponding day). Stored while 2027's holidays were unknown, only weekends count: 2027-01-01 is a Friday, so
    repair from 2027-01-02. Once 2027's calendar says 1 January is 元旦 (a 法定休假日), the last day moves past it
    and the weekend (2–3 January) to Monday 2027-01-04: repair from 2027-01-05, not a day early."""
    from pathlib import Path

    from creditflow.core import warehouse as wh
    from creditflow.core import workdays
    from creditflow.credit import deadlines, integrity, penalties

    def calendar() -> workdays.WorkdayCalendar:  # 2027 hidden unless CREDITFLOW_CALENDAR_DIR holds its file
        cal = workdays.WorkdayCalendar(workdays.default_override_dirs())
        extra = [Path(p) for p in (workdays.os.environ.get("CREDITFLOW_CALENDAR_DIR") or "").split(":") if p]
        if not any((d / "2027.yaml").exists() for d in extra):
            cal.years.pop(2027, None)
        return cal

    monkeypatch.delenv("CREDITFLOW_CALENDAR_DIR", raising=False)
    monkeypatch.setattr(publicity, "official_calendar", calendar)
    engine = wh.engine_from_url(db_url)
    wh.upgrade(engine)
    uscc = "91440400MA4UABCD1N"
    penalties.track(engine, [_case_row("D101", uscc, D(2026, 1, 1), 5_000)])
    with engine.connect() as conn:
        pen = dict(conn.execute(sa.select(wh.credit_penalty)).mappings().one())
    assert (pen["regime_id"], pen["earliest_repair"]) == ("ndrc_order_58", "2027-01-02")  # provisional, stored

    folder = tmp_path / "cal"
    folder.mkdir()
    (folder / "2027.yaml").write_text("year: 2027\nsource: test fixture\nholidays:\n"
                                      "  - {date: 2027-01-01, name: 元旦}\nworkdays: []\n", encoding="utf-8")
    monkeypatch.setenv("CREDITFLOW_CALENDAR_DIR", str(folder))
    checks = {c["id"]: c for c in penalties.repair_checks(pen, D(2027, 1, 4), {"commitment": True})}
    assert checks["min_period"]["ok"] is False  # 4 January is still inside the minimum period
    assert penalties.repair_checks(pen, D(2027, 1, 5), {})[1]["ok"] is True
    ans = integrity.check(engine, [uscc], asked_by="t", channel="cli", purpose="licensing", as_of=D(2027, 1, 4))[0]
    assert ans["penalties_under_publicity"][0]["repair"] == "2027-01-05起可申请信用修复"
    # calendar_watch's fill_known writes the real dates into the columns
    assert deadlines.fill_known(engine)["penalties"] == 1
    with engine.connect() as conn:
        pen = dict(conn.execute(sa.select(wh.credit_penalty)).mappings().one())
    assert (pen["publicity_min_until"], pen["earliest_repair"]) == ("2027-01-04", "2027-01-05")
    engine.dispose()


def test_the_party_history_window_is_the_detectors_own(db_url, monkeypatch):
    """部令11号 第六条第（二）项: 「12个月内累计发生2起以上较大生产安全事故」 — listing.yaml within_months. A 较大
    accident case opened 13 months before the draft does not count; if the data said 18 months it would."""
    from creditflow.core import warehouse as wh

    engine = wh.engine_from_url(db_url)
    wh.upgrade(engine)
    uscc = "91440400MA4UABCD1N"
    with engine.begin() as conn:
        conn.execute(wh.credit_case.insert().values(
            case_id="SX-art6_2-T1", situation_id="art6_2", party_key=uscc, party_type=ORG, party_name="某公司",
            state="candidate", facts="较大事故", basis="部令11号第六条", authority_name="珠海市应急管理局",
            authority_uscc="11440400MB2C123457", created_on="2025-04-06", updated_at=wh.now_iso()))
    draft = impact.Draft(categories=["罚款"], decided=D(2026, 5, 6), party_type=ORG, amount_yuan=30_000, party=uscc)
    assert impact.preview(draft, engine)["listing"]["counts_toward"] == []
    sits = rules.situations()
    longer = tuple(s if s.id != "art6_2" else rules.Situation(s.id, s.article, s.group, s.title_zh,
                                                                {**s.detector, "within_months": 18}, s.mark, s.source)
                   for s in sits)
    monkeypatch.setattr(rules, "situations", lambda: longer)
    assert [c["id"] for c in impact.preview(draft, engine)["listing"]["counts_toward"]] == ["art6_2"]
    engine.dispose()


def test_order_58_has_no_extension_to_apply():
    # Order 58 [M]: 5 working days from receipt and no extension for a complex case. Received Tue 2026-03-31 →
    # 04-01, 04-02, 04-03, (清明 4–6 April off), 04-07, 04-08.
    assert rules.repair_due(D(2026, 3, 31), complex_case=True) == rules.repair_due(D(2026, 3, 31)) == D(2026, 4, 8)


def test_repair_acceptance_and_extension_are_recorded_and_move_the_limit(db_url):
    """Order 36 [S: mpaypass; start at acceptance M]: 受理后7个工作日内作出决定, a complex case 10 more. Received Mon
    2026-06-01, accepted Tue 06-02 → decided by Thu 06-11 (06-03 … 06-11, seven working days); complex → ten
    more working days, the Dragon Boat Festival (Fri 06-19) off → Fri 06-26."""
    from creditflow.core import warehouse as wh
    from creditflow.credit import deadlines, penalties, store
    from creditflow.credit.roles import Reviewer
    from creditflow.credit.store import CreditError

    engine = wh.engine_from_url(db_url)
    wh.upgrade(engine)
    penalties.track(engine, [_case_row("D201", "91440400MA4UABCD1N", D(2025, 5, 6), 30_000)])
    officer = Reviewer("reviewer1")
    rid = penalties.record_repair_request(engine, "case_db:D201", D(2026, 6, 1), {"commitment": True}, officer)
    with engine.connect() as conn:
        req = dict(conn.execute(sa.select(wh.credit_request)).mappings().one())
    assert req["due_on"] == "2026-06-15"  # acceptance not yet recorded: from the acceptance limit (06-04)
    with pytest.raises(CreditError):
        penalties.record_repair_acceptance(engine, rid, D(2026, 5, 31), officer)  # before the application
    assert penalties.record_repair_acceptance(engine, rid, D(2026, 6, 2), officer) == "2026-06-11"
    with pytest.raises(CreditError):
        penalties.record_repair_extension(engine, rid, D(2026, 6, 5), "  ", officer)  # a reason is required
    assert penalties.record_repair_extension(engine, rid, D(2026, 6, 5), "需现场核查整改情况", officer) == "2026-06-26"
    with engine.connect() as conn:
        req = dict(conn.execute(sa.select(wh.credit_request)).mappings().one())
        assert deadlines.request_due(conn, {**req, "due_on": None}).iso() == req["due_on"] == "2026-06-26"
        acts = [e["action"] for e in store.events(conn, "case_db:D201")]
    assert {"repair_accepted", "repair_extended"} <= set(acts)
    engine.dispose()
