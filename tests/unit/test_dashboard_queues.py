"""The dashboard's queues (#18.2, #18.4): the review queue's deadlines on the one due-date rule, the quarantine
queue's records identified the way 问题数据 identifies them."""

from __future__ import annotations

import datetime as dt

import sqlalchemy as sa
from creditflow.core import warehouse as wh
from creditflow_ui import dashboard

SUNDAY = dt.date(2026, 12, 6)


def _review(conn: sa.Connection, rid: str, due: str | None, decided: str) -> None:
    conn.execute(wh.reviews.insert().values(
        record_id=rid, content_hash="h1", op="create", kind="penalty", natural_key=f"{rid}|x", reason="person",
        levels_required="1,2", status="pending", due_date=due, created_run_key="sgs_penalty|2026-11-25",
        created_at="2026-11-26T06:30:00+00:00"))
    conn.execute(wh.standardised.insert().values(
        run_key="sgs_penalty|2026-11-25", record_id=rid, kind="penalty", source_system="case_db", natural_key=f"{rid}|x",
        decision_date=decided, due_date=due, source_revoked=False, content_hash="h1", body_hash="b1", payload="{}"))


def test_a_review_stored_without_a_due_date_gets_its_deadline_from_the_decision_date(db_url):
    """国办发〔2015〕51号: 7 working days from the decision, the decision day not counted. Decided Wednesday
    25 November 2026 → 26, 27, 30 Nov, 1, 2, 3, 4 Dec → due Friday 4 December. On Sunday 6 December it is
    overdue (the due Friday has passed). Stored with a NULL due date (the deadline was beyond the calendar when
    the run computed it), it counted as neither due nor overdue."""
    wh.upgrade(db_url)
    engine = wh.engine_from_url(db_url)
    with engine.begin() as conn:
        _review(conn, "case_db:N1", None, "2026-11-25")
    with engine.connect() as conn:
        [group] = dashboard.review_queue(conn, "penalty", SUNDAY)
    engine.dispose()
    assert (group["n"], group["overdue"], group["due"]) == (1, 1, "2026-12-04")
    assert group["due_cell"]["overdue"] and group["due_cell"]["label"] == "已逾期1个工作日"


def test_the_earliest_deadline_of_a_group_and_its_overdue_count(db_url):
    wh.upgrade(db_url)
    engine = wh.engine_from_url(db_url)
    with engine.begin() as conn:
        _review(conn, "case_db:N1", None, "2026-11-25")      # due Fri 4 Dec (computed): overdue on Sunday
        _review(conn, "case_db:N2", "2026-12-08", "2026-11-27")  # stored: due Tue 8 Dec, 2 working days left
    with engine.connect() as conn:
        [group] = dashboard.review_queue(conn, None, SUNDAY)
    engine.dispose()
    assert (group["n"], group["overdue"], group["due"]) == (2, 1, "2026-12-04")


def test_the_quarantine_queue_identifies_a_record_as_problem_data_does(db_url):
    """#18.4: "问题数据 identifies a record by 文号, party (masked) and responsible department, not only
    case_db:D00000814" — the dashboard's quarantine table too (``routes.identify``). organisation.yaml: a case
    system record's 承办科室 is the department it names, and it is corrected there (在执法案件系统中修正)."""
    import json

    wh.upgrade(db_url)
    engine = wh.engine_from_url(db_url)
    run_key, rid = "sgs_penalty|2026-12-03", "case_db:D00000814"
    payload = {"CF_WSH": "珠应急罚〔2026〕12号", "CF_XDR_MC": "张三", "CF_XDR_ZJHM": "440402199001011234"}
    with engine.begin() as conn:
        conn.execute(wh.staging.insert().values(
            run_key=run_key, record_id=rid, kind="penalty", source_system="case_db", source_key="D00000814",
            lineage="", interval_start="2026-12-03T00:00:00+08:00", extracted_at="2026-12-04T06:30:00+00:00",
            raw_payload=json.dumps({"department": "执法监督科"})))
        conn.execute(wh.standardised.insert().values(
            run_key=run_key, record_id=rid, kind="penalty", source_system="case_db", natural_key=None,
            decision_date="2026-12-03", due_date="2026-12-14", source_revoked=False, content_hash="h1",
            body_hash="b1", payload=json.dumps(payload, ensure_ascii=False)))
        conn.execute(wh.findings.insert().values(
            run_key=run_key, record_id=rid, field="CF_CFYJ", rule_id="REQUIRED", kind="penalty", severity="error",
            message_zh="处罚依据不能为空"))
    records = [{"run_key": run_key, "record_id": rid, "outcome": "quarantined", "kind": "penalty",
                "due_date": "2026-12-14", "decision_date": "2026-12-03", "detail": None}]
    with engine.connect() as conn:
        [row] = dashboard.quarantine_queue(conn, records, SUNDAY)
    engine.dispose()
    assert row["doc_no"] == "珠应急罚〔2026〕12号"
    assert row["party"] == "张三 4404**********1234"  # the ID number masked (creditflow.common.mask_id)
    assert (row["department"], row["who"]) == ("执法监督科", "执法监督科（在执法案件系统中修正）")
    assert row["message"] == "处罚依据不能为空" and row["record_id"] == rid
