import datetime as dt

from creditflow.reporting import pipeline as sgs


def test_no_alert_without_records():
    assert sgs.due_soon_alert("penalty", dt.date(2026, 11, 27), []) is None


def test_alert_is_chinese_sorted_and_masks_ids():
    records = [
        {"record_id": "district_file:440402:珠香应急罚〔2026〕0001号|440402199001010014", "outcome": "awaiting_review",
         "due_date": "2026-12-01", "review_reason": "natural_person"},
        {"record_id": "case_db:D00000001", "outcome": "quarantined", "due_date": "2026-11-30", "review_reason": None},
    ]
    subject, body = sgs.due_soon_alert("penalty", dt.date(2026, 11, 27), records)
    assert subject.startswith("【临期预警】行政处罚 2 条") and "2026-11-30" in subject
    assert "440402199001010014" not in body and "4404**********0014" in body
    assert body.index("case_db:D00000001") < body.index("district_file")
    assert "问题数据待修正" in body and "待审核" in body and "2个工作日" in body
