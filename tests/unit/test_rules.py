import datetime as dt

import pytest
from creditflow.core import rules

D = dt.date


def test_sgs_due_date_is_seven_working_days():
    assert rules.sgs_due_date(D(2026, 2, 12)) == D(2026, 2, 28)
    assert rules.sgs_due_date(D(2026, 11, 20)) == D(2026, 12, 1)


def test_every_deadline_has_a_source_and_a_mark():
    for d in rules.deadlines():
        assert d.source and d.mark in {"S", "M", "local"}, d.id


def test_deadline_version_by_effective_date():
    with pytest.raises(rules.NoRuleInForce):
        rules.deadline("list_publication", D(2023, 9, 30))  # 部令11号 took effect 2023-10-01
    assert rules.deadline("list_publication", D(2023, 10, 1)).amount == 20


def test_order_58_until_2026_03_31_then_order_36():
    assert rules.publicity_regime(D(2026, 3, 31))["id"] == "ndrc_order_58"
    assert rules.publicity_regime(D(2026, 4, 1))["id"] == "ndrc_order_36"
    assert rules.publicity_regime(D(2023, 5, 1))["id"] == "ndrc_order_58"
    assert rules.publicity_regime(D(2023, 4, 30))["id"] == "ndrc_527"


def test_safety_production_minimum_one_year_under_order_58():
    p = rules.publicity_period(D(2025, 6, 10), ["罚款"])
    assert (p.regime_id, p.penalty_class) == ("ndrc_order_58", "safety_production")
    # 民法典 art. 202: the 1-year minimum ends on 2026-06-10 (a Wednesday, a working day); repair from the
    # next day. The 3-year maximum's corresponding day 2028-06-10 is a Saturday: art. 203 moves it to Monday
    # 2028-06-12 (2028's holidays are not published yet: provisional).
    assert (p.min_until, p.earliest_repair) == (D(2026, 6, 10), D(2026, 6, 11))
    assert p.publication_end == D(2028, 6, 12) and p.provisional


def test_order_36_classes_most_severe_wins():
    assert rules.publicity_period(D(2026, 5, 1), ["警告"]).publish is False
    # 罚款 of an unknown amount cannot be 轻微: 一般, 3 months – 1 year. 2026-08-01 is a Saturday (民法典 art. 203:
    # the last day moves to Monday 2026-08-03; repair from 08-04); 2027-05-01 is a Saturday too (→ 05-03).
    general = rules.publicity_period(D(2026, 5, 1), ["警告", "罚款"])
    assert (general.penalty_class, general.min_until, general.earliest_repair, general.publication_end) == (
        "general", D(2026, 8, 3), D(2026, 8, 4), D(2027, 5, 3))
    serious = rules.publicity_period(D(2026, 5, 1), ["罚款", "吊销许可证件"])
    assert (serious.penalty_class, serious.min_until, serious.earliest_repair) == ("serious", D(2027, 5, 3),
                                                                                   D(2027, 5, 4))
    assert serious.mark == "M"  # provisional class mapping is marked unverified


def test_month_arithmetic_clamps_month_end():
    # 民法典 art. 202: no 30 February — the month's last day, 2027-02-28, is the last day; it is a Sunday
    # (art. 203: Monday 2027-03-01), so repair may be requested from 2027-03-02.
    p = rules.publicity_period(D(2026, 11, 30), ["罚款"])
    assert (p.min_until, p.earliest_repair) == (D(2027, 3, 1), D(2027, 3, 2))
    jan = rules.publicity_period(D(2025, 11, 30), ["罚款"])  # Order 58, 1 year: 2026-11-30, a Monday
    assert jan.min_until == D(2026, 11, 30)


def test_sgs_publication_rule_in_force_from_the_date_of_guobanfa_2015_51():
    assert rules.deadline("sgs_publication", D(2015, 6, 24)).effective_from == D(2015, 6, 24)
    with pytest.raises(rules.NoRuleInForce):
        rules.deadline("sgs_publication", D(2015, 6, 23))
    assert rules.deadline("sgs_due_soon", D(2015, 6, 24)).amount == 2


@pytest.mark.parametrize("category", ["责令停产停业", "吊销许可证件"])
def test_527_safety_production_suspension_or_revocation_is_not_repairable(category):
    p = rules.publicity_period(D(2020, 3, 2), ["罚款", category])
    assert (p.regime_id, p.penalty_class) == ("ndrc_527", "safety_production")
    assert p.repairable is False and p.earliest_repair is None
    assert p.publication_end == D(2023, 3, 2)  # 3 years
    assert p.mark == "S"


def test_527_other_penalties_stay_general():
    p = rules.publicity_period(D(2020, 3, 2), ["警告", "罚款", "暂扣许可证件"])
    assert (p.penalty_class, p.repairable) == ("general", True)
    # 3 months from 2020-03-02: last day 2020-06-02 (a Tuesday), repair from 2020-06-03; 1 year: 2021-03-02.
    assert p.earliest_repair == D(2020, 6, 3) and p.publication_end == D(2021, 3, 2)


def test_most_severe_class_follows_the_regimes_own_order():
    regime = {**rules.publicity_regime(D(2020, 3, 2)),
              "class_by_penalty_category": {"吊销许可证件": "safety_production", "行政拘留": "serious"}}
    # 527: the non-repairable class outranks 严重 ...
    assert rules.penalty_class(regime, ["行政拘留", "吊销许可证件"]) == "safety_production"
    # ... while the default order (Order 36 and any regime without class_order) ranks 严重 highest.
    assert rules.penalty_class({**regime, "class_order": None}, ["行政拘留", "吊销许可证件"]) == "serious"
    assert rules.penalty_class(rules.publicity_regime(D(2026, 5, 1)), ["警告", "责令停产停业"]) == "serious"
