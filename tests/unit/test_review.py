import pytest
import sqlalchemy as sa
from creditflow.core import warehouse as wh
from creditflow.reporting import review


@pytest.fixture
def engine(tmp_path):
    e = wh.engine_from_url(f"sqlite:///{tmp_path}/wh.sqlite")
    wh.create_schema(e)
    with e.begin() as conn:
        for rid, reason, levels in (("r1", "natural_person", "1,2"), ("r2", "near_duplicate", "1,2"),
                                    ("r3", "correction", "1,2")):
            conn.execute(wh.reviews.insert().values(record_id=rid, content_hash="h", op="create", kind="penalty",
                                                    natural_key=f"nk{rid}", reason=reason, related_record="x",
                                                    levels_required=levels, status="pending", due_date="2026-12-01",
                                                    created_run_key="run", created_at="t"))
            conn.execute(wh.standardised.insert().values(
                run_key="run", record_id=rid, kind="penalty", source_system="case_db", content_hash="h",
                body_hash="b", payload='{"CF_XDR_ZJHM": "440402199001010014", "CF_XDR_MC": "李四"}'))
    return e


def test_levels_in_order_and_once(engine):
    with pytest.raises(review.ReviewError, match="level 1 must decide first"):
        review.record_decision(engine, "r1", "h", "create", 2, "approve", "王")
    assert review.record_decision(engine, "r1", "h", "create", 1, "approve", "李")["status"] == "pending"
    with pytest.raises(review.ReviewError, match="already decided"):
        review.record_decision(engine, "r1", "h", "create", 1, "approve", "李")
    assert review.record_decision(engine, "r1", "h", "create", 2, "approve", "王")["status"] == "approved"
    with pytest.raises(review.ReviewError, match="already approved"):
        review.record_decision(engine, "r1", "h", "create", 2, "reject", "王")


def test_reviewer_and_decision_are_required(engine):
    with pytest.raises(review.ReviewError):
        review.record_decision(engine, "r1", "h", "create", 1, "approve", "  ")
    with pytest.raises(review.ReviewError):
        review.record_decision(engine, "r1", "h", "create", 1, "maybe", "李")
    with pytest.raises(review.ReviewError, match="not required"):
        review.record_decision(engine, "r1", "h", "create", 3, "approve", "李")


def test_pending_masks_id_numbers_and_shows_next_level(engine):
    rows = {r["record_id"]: r for r in review.pending(engine)}
    assert rows["r1"]["preview"]["CF_XDR_ZJHM"] == "4404**********0014"
    assert rows["r1"]["next_level"] == 1


def test_batch_sign_off_skips_near_duplicates(engine):
    assert review.sign_off(engine, 1, "经办科室") == 2
    assert review.sign_off(engine, 2, "法规科") == 2
    with engine.connect() as conn:
        status = dict(conn.execute(sa.select(wh.reviews.c.record_id, wh.reviews.c.status)).all())
        who = {r.reviewer for r in conn.execute(sa.select(wh.review_decisions))}
    assert status == {"r1": "approved", "r2": "pending", "r3": "approved"}
    assert who == {"经办科室", "法规科"}


def test_reject_closes_the_review(engine):
    assert review.record_decision(engine, "r2", "h", "create", 1, "duplicate", "李", "文号录错")["status"] == "rejected"


def test_summary_for_batch_sign_off_counts_without_records(engine):
    text = review.summary_markdown(engine, 1)
    assert "第1级待审核记录 3 条" in text and "2026-12-01" in text
    assert "| penalty | natural_person | 1 |" in text
    assert "李四" not in text and "4404" not in text
    review.sign_off(engine, 1, "经办科室")
    assert "第1级待审核记录 1 条" in review.summary_markdown(engine, 1)  # only the near duplicate is left
