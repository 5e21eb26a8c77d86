"""A record taken again while it waits for 层层审核 is marked as carried once, however long it waits."""

from __future__ import annotations

from creditflow.reporting.pipeline.extract import CARRIED, carried_lineage


def test_a_record_waiting_many_days_carries_one_mark() -> None:
    lineage = "case_no=粤珠应急罚〔2026〕12号"
    for _ in range(300):  # taken into 300 later days, each from the day before's staging row
        lineage = carried_lineage(lineage)
    assert lineage == "case_no=粤珠应急罚〔2026〕12号" + CARRIED


def test_the_mark_on_a_lineage_with_none_or_one_already() -> None:
    assert carried_lineage(None) == CARRIED
    assert carried_lineage("a.xlsx#row3" + CARRIED + CARRIED) == "a.xlsx#row3" + CARRIED
