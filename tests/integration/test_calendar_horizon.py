"""Issue #16.4: the calendar horizon never stops the bureau. A listing decision whose 20-working-day
publication deadline falls in a year without the official calendar is recorded, its deadline unknown with
the reason (shown, alerted); when the year's file is added the deadline appears — nothing re-entered,
no run cleared.

"2027 is not covered" is a property of the fixture (the year is hidden from the calendar unless a file for it
is in ``CREDITFLOW_CALENDAR_DIR``), so the test keeps its meaning once the real 2027.yaml is committed. The
added file is a test fixture (元旦 1–3 January off, no 调休), not the State Council's schedule."""

from __future__ import annotations

import datetime as dt
import subprocess
import sys
from pathlib import Path

import pytest
import sqlalchemy as sa
from creditflow.core import rules as core_rules
from creditflow.core import warehouse as wh
from creditflow.core import workdays
from creditflow.credit import candidates, deadlines, lifecycle
from creditflow.credit.alerts import due_alerts
from creditflow.credit.roles import Reviewer
from creditflow.credit.store import CreditError
from helpers import warehouse

pytestmark = pytest.mark.integration

OFFICER, CHIEF = Reviewer("reviewer1"), Reviewer("reviewer2")
D = dt.date
HIDDEN = 2027
ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def no_2027(monkeypatch, tmp_path):
    """The official calendar without 2027 unless ``CREDITFLOW_CALENDAR_DIR`` holds a 2027.yaml."""

    def calendar() -> workdays.WorkdayCalendar:
        cal = workdays.WorkdayCalendar(workdays.default_override_dirs())
        extra = [Path(p) for p in (workdays.os.environ.get("CREDITFLOW_CALENDAR_DIR") or "").split(":") if p]
        if not any((d / f"{HIDDEN}.yaml").exists() for d in extra):
            cal.years.pop(HIDDEN, None)
        return cal

    monkeypatch.setattr(workdays, "official_calendar", calendar)
    monkeypatch.setattr(core_rules, "official_calendar", calendar)
    folder = tmp_path / "calendar"
    folder.mkdir()
    return folder


def add_2027(folder: Path, monkeypatch) -> None:
    (folder / f"{HIDDEN}.yaml").write_text(
        f"year: {HIDDEN}\nsource: test fixture, not the State Council's schedule\n"
        f"holidays:\n  - {{from: {HIDDEN}-01-01, to: {HIDDEN}-01-03, name: 元旦}}\nworkdays: []\n", encoding="utf-8")
    monkeypatch.setenv("CREDITFLOW_CALENDAR_DIR", str(folder))


def penalty(decided: dt.date) -> dict:
    at = dt.datetime(decided.year, decided.month, decided.day, 10)
    return {"decision_id": "H0000001", "doc_no": "珠应急罚〔2026〕0001号", "decision_date": decided,
            "penalty_codes": "FK", "fine_yuan": 100000, "status": "VALID", "created_at": at, "updated_at": at,
            "party_type": "ENT", "party_name": "珠海宏达化工有限公司", "party_uscc": "91440400MA4UABCD1N",
            "person_id_no": None, "violation_type": "未取得危险化学品经营许可证从事危险化学品经营",
            "facts": "经查，该单位无证经营。", "legal_basis": "《危险化学品安全管理条例》第七十七条第三款",
            "content": "罚款人民币10万元", "authority_name": "珠海市应急管理局", "authority_uscc": "11440400MB2C123457"}


def open_case(engine, decided: dt.date, notice_on: dt.date, delivered_on: dt.date) -> str:
    found = candidates.from_penalties([penalty(decided)])
    candidates.propose_all(engine, found, decided)
    case_id = found[0]["case_id"]
    lifecycle.propose(engine, case_id, "issue_notice", OFFICER, notice_on)
    lifecycle.approve(engine, case_id, CHIEF, notice_on, "t")
    lifecycle.record_notice_delivery(engine, case_id, delivered_on, "直接送达", OFFICER)
    return case_id


def case(engine, case_id: str) -> dict:
    with engine.connect() as conn:
        return lifecycle.get_case(conn, case_id)


def test_a_listing_decision_beyond_the_calendar_is_recorded_and_its_deadline_appears(db_url, no_2027, monkeypatch):
    engine = warehouse(db_url)
    case_id = open_case(engine, D(2026, 11, 20), D(2026, 11, 30), D(2026, 12, 1))
    # 5 working days after Tue 1 Dec 2026 (list_objection_period): 2, 3, 4, 7, 8 December.
    assert case(engine, case_id)["objection_until"] == "2026-12-08"
    lifecycle.propose(engine, case_id, "decide_listing", OFFICER, D(2026, 12, 10))
    assert lifecycle.approve(engine, case_id, CHIEF, D(2026, 12, 10), "t") == "listed"  # recorded, no exception
    listed = case(engine, case_id)
    # 20 working days after 10 Dec: 15 in December 2026 (11, 14–18, 21–25, 28–31), 5 in 2027 → unknown.
    assert listed["decided_on"] == "2026-12-10" and listed["publication_due"] is None
    with engine.connect() as conn:
        assert deadlines.shown(conn, listed)["publication_due"] == "待定（2027年官方日历未发布）"
    alerts = due_alerts(engine, D(2026, 12, 11))
    assert any(a.startswith("【期限待定】") and case_id in a and "2027年官方日历未发布" in a for a in alerts), alerts
    assert deadlines.unknown_lines(engine)

    add_2027(no_2027, monkeypatch)  # the year's file is added: nothing else is done
    # With the fixture's 2027 (1 Jan Friday off, 2–3 weekend): 4, 5, 6, 7, 8 January → 2027-01-08.
    with engine.connect() as conn:
        assert deadlines.case_dues(conn, case(engine, case_id))["publication_due"].date == D(2027, 1, 8)
        assert deadlines.shown(conn, case(engine, case_id))["publication_due"] == "2027-01-08"
    alerts = due_alerts(engine, D(2027, 1, 5))  # 3 working days left (6, 7, 8): list_publication_due_soon = 3
    assert any(a.startswith("【临期】") and "2027-01-08" in a for a in alerts), alerts
    assert not any("期限待定" in a for a in alerts)
    assert deadlines.fill_known(engine)["cases"] == 1  # the column catches up too (calendar_watch does this)
    assert case(engine, case_id)["publication_due"] == "2027-01-08"
    assert deadlines.unknown_lines(engine) == []
    engine.dispose()


def test_an_objection_period_beyond_the_calendar_waits_for_the_file(db_url, no_2027, monkeypatch):
    engine = warehouse(db_url)
    case_id = open_case(engine, D(2026, 12, 1), D(2026, 12, 21), D(2026, 12, 28))
    # 5 working days after Mon 28 Dec: 29, 30, 31 December and 2 more in 2027 → unknown.
    assert case(engine, case_id)["objection_until"] is None
    assert any(a.startswith("【期限待定】") and "陈述申辩期" in a for a in due_alerts(engine, D(2026, 12, 29)))
    with pytest.raises(CreditError, match="待定（2027年官方日历未发布）"):  # a refusal in Chinese, not a traceback
        lifecycle.propose(engine, case_id, "decide_listing", OFFICER, D(2027, 1, 11))
    add_2027(no_2027, monkeypatch)
    # fixture 2027: 4 and 5 January → objection period ends 2027-01-05
    with pytest.raises(CreditError, match="陈述申辩期至2027-01-05"):
        lifecycle.propose(engine, case_id, "decide_listing", OFFICER, D(2027, 1, 5))
    lifecycle.propose(engine, case_id, "decide_listing", OFFICER, D(2027, 1, 6))
    assert lifecycle.approve(engine, case_id, CHIEF, D(2027, 1, 6), "t") == "listed"
    with engine.connect() as conn:
        n = conn.execute(sa.select(sa.func.count()).select_from(wh.credit_case)).scalar_one()
    assert n == 1
    engine.dispose()


@pytest.mark.parametrize("today", ["2026-12-06", "2026-12-28"])
def test_the_demo_credit_step_succeeds_across_the_horizon(tmp_path, today):
    """``make demo``'s credit step on the day the issue was reported and after 2026-12-23 (every 7- and
    20-working-day deadline then reaches 2027), as scripts/demo.py runs it: a process of its own."""
    url = f"sqlite:///{tmp_path}/w.sqlite"
    warehouse(url).dispose()
    env = {**workdays.os.environ, "PYTHONPATH": str(ROOT / "include")}
    env.pop("CREDITFLOW_CALENDAR_DIR", None)
    r = subprocess.run([sys.executable, "-m", "creditflow.credit.demo", "--db", url, "--today", today],
                       capture_output=True, text=True, env=env, timeout=300)
    assert r.returncode == 0, r.stderr[-800:]
    assert "listing case" in r.stdout
