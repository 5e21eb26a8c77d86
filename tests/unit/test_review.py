import pytest
import sqlalchemy as sa
from creditflow.core import warehouse as wh
from creditflow.reporting import review, reviewers
from creditflow.reporting.reviewers import Reviewer

# Level 1: reviewer1 and chief (and anyone with the Airflow role op); level 2: reviewer2 and chief.
ROSTER = reviewers.parse_roster({"levels": {1: {"users": ["reviewer1", "chief"], "roles": ["OP"]},
                                            2: {"users": ["reviewer2", "chief"]}}})


def _add_review(engine, rid, reason="natural_person", levels="1,2", decided_l1_by=None):
    with engine.begin() as conn:
        conn.execute(wh.reviews.insert().values(record_id=rid, content_hash="h", op="create", kind="penalty",
                                                natural_key=f"nk{rid}", reason=reason, related_record="x",
                                                levels_required=levels, status="pending", due_date="2026-12-01",
                                                created_run_key="run", created_at="t"))
        conn.execute(wh.standardised.insert().values(
            run_key="run", record_id=rid, kind="penalty", source_system="case_db", content_hash="h",
            body_hash="b", payload='{"CF_XDR_ZJHM": "440402199001010014", "CF_XDR_MC": "李四"}'))
    if decided_l1_by:
        review.record_decision(engine, rid, "h", "create", 1, "approve", decided_l1_by, roster=ROSTER)


@pytest.fixture
def engine(tmp_path):
    e = wh.engine_from_url(f"sqlite:///{tmp_path}/wh.sqlite")
    wh.create_schema(e)
    for rid, reason in (("r1", "natural_person"), ("r2", "near_duplicate"), ("r3", "correction")):
        _add_review(e, rid, reason)
    return e


def decide(engine, rid, level, decision, who, comment="", **kw):
    return review.record_decision(engine, rid, "h", "create", level, decision, who, comment, roster=ROSTER, **kw)


def audit_rows(engine):
    return review.audit_trail(engine)


def test_levels_in_order_and_once(engine):
    with pytest.raises(review.ReviewError, match="须先由第1级审核"):
        decide(engine, "r1", 2, "approve", "reviewer2")
    assert decide(engine, "r1", 1, "approve", "reviewer1")["status"] == "pending"
    with pytest.raises(review.StaleReview, match="第1级已由 reviewer1 审核"):
        decide(engine, "r1", 1, "approve", "chief")
    assert decide(engine, "r1", 2, "approve", "reviewer2")["status"] == "approved"
    with pytest.raises(review.StaleReview, match="已审核完毕（已通过）"):
        decide(engine, "r1", 2, "reject", "chief")


def test_reviewer_and_decision_are_required(engine):
    with pytest.raises(review.ReviewError, match="缺少审核人"):
        decide(engine, "r1", 1, "approve", "  ")
    with pytest.raises(review.ReviewError, match="审核决定须为"):
        decide(engine, "r1", 1, "maybe", "reviewer1")
    with pytest.raises(review.ReviewError, match="没有第3级审核"):
        decide(engine, "r1", 3, "approve", "reviewer1")
    with pytest.raises(review.ReviewError, match="不需要第2级审核"):
        _add_review(engine, "r9", "clean", levels="1")
        decide(engine, "r9", 2, "approve", "reviewer2")
    assert audit_rows(engine) == []


def test_a_viewer_looks_but_never_decides(engine):
    for who in (Reviewer("viewer", ("viewer",)), Reviewer("admin", ("admin",)), "reviewer2"):
        with pytest.raises(review.NotPermitted, match="无权作出第1级"):
            decide(engine, "r1", 1, "approve", who)
    assert audit_rows(engine) == []
    assert ROSTER.levels_of(Reviewer("viewer", ("viewer",))) == []


def test_a_role_on_the_roster_grants_its_level(engine):
    assert ROSTER.levels_of(Reviewer("someone", ("op",))) == [1]
    assert decide(engine, "r1", 1, "approve", Reviewer("someone", ("op",)))["reviewer"] == "someone"
    with pytest.raises(review.NotPermitted):
        decide(engine, "r1", 2, "approve", Reviewer("someone", ("op",)))


def test_the_same_person_never_decides_two_levels_of_one_record(engine):
    decide(engine, "r1", 1, "approve", "chief")
    with pytest.raises(review.SeparationOfDuties, match="同一人不得审核同一记录的两个层级：chief 已审核第1级"):
        decide(engine, "r1", 2, "approve", "chief")
    with pytest.raises(review.SeparationOfDuties):
        decide(engine, "r1", 2, "reject", "chief")
    assert [(a["level"], a["reviewer"]) for a in audit_rows(engine)] == [(1, "chief")]
    assert decide(engine, "r1", 2, "approve", "reviewer2")["status"] == "approved"
    # A reject at level 2 before level 1 closes the review: nobody decides level 1 of it afterwards.
    decide(engine, "r3", 2, "reject", "chief", "依据不足")
    with pytest.raises(review.StaleReview):
        decide(engine, "r3", 1, "approve", "reviewer1")


def test_every_accepted_decision_is_an_audit_row(engine):
    decide(engine, "r1", 1, "approve", "reviewer1", "核对无误，身份证号440402199001010014")
    review.sign_off(engine, 2, "reviewer2", source_ref="manual__2026-11-28", roster=ROSTER)
    rows = audit_rows(engine)
    assert [(a["record_id"], a["level"], a["decision"], a["reviewer"], a["source"]) for a in rows] == [
        ("r1", 2, "approve", "reviewer2", "signoff"), ("r1", 1, "approve", "reviewer1", "page")]
    assert rows[0]["source_ref"] == "manual__2026-11-28" and rows[0]["comment"] == "批量审核通过"
    assert rows[1]["comment"] == "核对无误，身份证号4404**********0014"  # stored masked
    assert all(a["decided_at"] and a["kind"] == "penalty" for a in rows)
    with engine.connect() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(wh.review_decisions)).scalar() == 2


def test_pending_masks_id_numbers_and_shows_next_level(engine):
    rows = {r["record_id"]: r for r in review.pending(engine)}
    assert rows["r1"]["preview"]["CF_XDR_ZJHM"] == "4404**********0014"
    assert rows["r1"]["next_level"] == 1
    decide(engine, "r1", 1, "approve", "chief")
    row = next(r for r in review.pending(engine) if r["record_id"] == "r1")
    assert review.blocker(row, Reviewer("chief"), ROSTER) == "您已审核第1级，第2级须由他人审核"
    assert review.blocker(row, Reviewer("reviewer1"), ROSTER).startswith("第2级（法规科）由 chief、reviewer2")
    assert review.blocker(row, Reviewer("reviewer2"), ROSTER) is None


def test_batch_sign_off_skips_near_duplicates(engine):
    assert review.sign_off(engine, 1, "reviewer1", roster=ROSTER) == 2
    assert review.sign_off(engine, 2, "reviewer2", roster=ROSTER) == 2
    with engine.connect() as conn:
        status = dict(conn.execute(sa.select(wh.reviews.c.record_id, wh.reviews.c.status)).all())
        who = {r.reviewer for r in conn.execute(sa.select(wh.review_decisions))}
    assert status == {"r1": "approved", "r2": "pending", "r3": "approved"}
    assert who == {"reviewer1", "reviewer2"}


def test_batch_sign_off_is_refused_to_someone_off_the_roster(engine):
    with pytest.raises(review.NotPermitted, match="无权签署第2级"):
        review.sign_off(engine, 2, "reviewer1", roster=ROSTER)
    assert audit_rows(engine) == []


def test_sign_off_approves_exactly_what_its_plan_counted_for_the_responder(engine):
    decide(engine, "r1", 1, "approve", "chief")
    decide(engine, "r3", 1, "approve", "reviewer1")
    plan = review.sign_off_plan(engine, 2, roster=ROSTER)
    assert plan["by_user"] == {"chief": 1, "reviewer2": 2}
    assert "| chief | 1 | 1 |" in plan["body"] and "| reviewer2 | 2 | 0 |" in plan["body"]
    _add_review(engine, "r4", decided_l1_by="reviewer1")  # arrives after the summary
    assert review.sign_off(engine, 2, "chief", only=plan["keys"], roster=ROSTER) == plan["by_user"]["chief"]
    with engine.connect() as conn:
        status = dict(conn.execute(sa.select(wh.reviews.c.record_id, wh.reviews.c.status)).all())
    assert status == {"r1": "pending", "r2": "pending", "r3": "approved", "r4": "pending"}


def test_a_sign_off_summarised_before_the_upgrade_still_finds_its_reviews(engine):
    """Review keys became letters only (masking could alter hex ones); an approval already waiting with the
    old hex keys in its plan still signs exactly those reviews, and a form with an old key still resolves."""
    import hashlib

    def old_key(rid):  # type: ignore[no-untyped-def]
        return hashlib.sha256(f"{rid}|h|create".encode()).hexdigest()[:20]

    assert review.resolve_key(engine, old_key("r1")) == ("r1", "h", "create")
    assert review.resolve_key(engine, review.review_key("r1", "h", "create")) == ("r1", "h", "create")
    assert review.sign_off(engine, 1, "reviewer1", only=[old_key("r3")], roster=ROSTER) == 1
    with engine.connect() as conn:
        decided = {r.record_id for r in conn.execute(sa.select(wh.review_decisions))}
    assert decided == {"r3"}


def test_sign_off_plan_counts_without_records(engine):
    plan = review.sign_off_plan(engine, 1, roster=ROSTER)
    text = plan["body"]
    assert "第1级（经办科室）可批量签署的待审核记录 2 条" in text and "2026-12-01" in text
    assert "| 行政处罚 | 自然人 | 1 |" in text and "疑似重复 1 条不参与批量签署" in text
    assert "李四" not in text and "4404" not in text
    assert plan["keys"] == sorted(review.review_key(rid, "h", "create") for rid in ("r1", "r3"))  # opaque
    review.sign_off(engine, 1, "reviewer1", roster=ROSTER)
    assert "待审核记录 0 条" in review.sign_off_plan(engine, 1, roster=ROSTER)["body"]


def test_packaged_roster_names_users_for_every_level_of_the_policy():
    roster = reviewers.load_roster()
    assert set(roster.levels) == {1, 2}
    assert roster.name(1) == "经办科室" and roster.name(2) == "法规科"
    for level in roster.levels:
        assert roster.hitl_users(level), "the batch sign-off needs named users at every level"
    assert roster.levels_of(Reviewer("viewer", ("viewer",))) == []
    assert roster.levels_of(Reviewer("admin", ("admin",))) == []


def test_roster_file_from_the_environment(tmp_path, monkeypatch):
    path = tmp_path / "roles.yaml"
    path.write_text("levels:\n  1: {users: [zhang]}\n  2: {roles: [op]}\n", encoding="utf-8")
    monkeypatch.setenv(reviewers.ROSTER_ENV, str(path))
    roster = reviewers.load_roster()
    assert roster.may_decide(1, Reviewer("zhang")) and not roster.may_decide(2, Reviewer("zhang"))
    assert roster.may_decide(2, Reviewer("li", ("Op",))) and roster.hitl_users(2) == []


@pytest.mark.parametrize("levels", [{1: {"users": ["a"]}}, {1: {"users": ["a"]}, 2: {"users": ["b"]}, 3: {}},
                                    {1: {"user": ["a"]}, 2: {}}])
def test_a_roster_that_does_not_match_the_policy_is_refused(levels):
    with pytest.raises(reviewers.RosterError):
        reviewers.parse_roster({"levels": levels})


def test_reject_closes_the_review(engine):
    assert decide(engine, "r2", 1, "reject", "reviewer1", "文号录错")["status"] == "rejected"


def test_duplicate_is_signed_by_every_level_like_an_approval(engine):
    """A confirmed near duplicate can withdraw a published copy: both levels sign it, two people."""
    assert decide(engine, "r2", 1, "duplicate", "chief", "文号录错")["status"] == "pending"
    with pytest.raises(review.SeparationOfDuties):
        decide(engine, "r2", 2, "duplicate", "chief", "同一人")
    assert decide(engine, "r2", 2, "duplicate", "reviewer2", "确认重复")["status"] == "approved"


def test_sign_off_dag_assigns_each_level_to_its_named_reviewers():
    from pathlib import Path

    from airflow.models import DagBag

    path = Path(__file__).resolve().parents[2] / "dags" / "sgs_review_signoff.py"
    dag = DagBag(dag_folder=str(path)).dags["sgs_review_signoff"]
    roster = reviewers.load_roster()
    for level in roster.levels:
        task = dag.get_task(f"approve_level_{level}")
        assert task.assigned_users == roster.hitl_users(level) and task.assigned_users
        assert task.response_timeout is not None and task.execution_timeout is None
    assert dag.get_task("sign_off").trigger_rule == "none_failed_min_one_success"
    assert dag.params["level"] in roster.levels
