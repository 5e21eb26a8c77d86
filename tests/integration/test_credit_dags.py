"""The credit DAGs themselves, run by Airflow (``dag.test()``) for fixed logical dates against a generated case
DB, a SQLite warehouse and the platform sandbox, through AIRFLOW_CONN_* connections (the scheduler's wiring):
``credit_list`` proposes candidates and publishes a listing once people decided it; ``credit_repair`` tracks
penalties with their 信用修复告知书 and withdraws what the 双公示 pipeline published when its publicity ends.
Every run is repeated: a re-run changes nothing — no case, event, document or platform record twice."""

from __future__ import annotations

import datetime as dt
import json
import os
import subprocess
import sys

import pendulum
import pytest
import sqlalchemy as sa
from creditflow.core import warehouse as wh
from creditflow.credit import candidates, lifecycle, penalties, rules
from creditflow.credit.roles import Reviewer
from creditflow_sandbox import generator as g
from creditflow_sandbox import licensing, platform
from helpers import ServedApp, World, run_day, warehouse

pytestmark = [pytest.mark.integration, pytest.mark.slow]
DAY = dt.date(2026, 11, 3)  # a Tuesday; the interval is 3 Nov 06:30 → 4 Nov 06:30 (Asia/Shanghai)
OFFICER, CHIEF = Reviewer("reviewer1"), Reviewer("reviewer2")
LISTABLE = "未取得安全生产许可证擅自从事生产活动"  # art. 7(1)


@pytest.fixture(scope="module")
def airflow_db(airflow_home):
    subprocess.run([sys.executable, "-m", "airflow", "db", "migrate"], check=True, capture_output=True,
                   env={**os.environ})
    return airflow_home


def _plant_facts(case_url: str) -> dict[str, str]:
    """Facts the DAG must find in the generated data: one penalty decided in the interval turned into a
    listable one (operating without a licence), and one 重大 accident five months before."""
    engine = sa.create_engine(case_url)
    with engine.begin() as conn:
        decision_id, ent_id = conn.execute(sa.text(
            "SELECT d.decision_id, c.ent_id FROM penalty_decision d JOIN enforcement_case c ON c.case_id = d.case_id "
            "JOIN enterprise e ON e.ent_id = c.ent_id WHERE c.party_type = 'ENT' AND d.status = 'VALID' "
            "AND d.decision_date = :day AND d.doc_no IS NOT NULL AND e.uscc IS NOT NULL ORDER BY d.decision_id"),
            {"day": DAY}).first()
        conn.execute(sa.text("UPDATE penalty_decision SET violation_type = :v WHERE decision_id = :d"),
                     {"v": LISTABLE, "d": decision_id})
        other = conn.execute(sa.text("SELECT ent_id FROM enterprise WHERE uscc IS NOT NULL AND ent_id <> :e "
                                     "ORDER BY ent_id"), {"e": ent_id}).scalar() or ent_id
        conn.execute(sa.text("INSERT INTO accident (accident_id, ent_id, occurred_on, accident_level, deaths, "
                             "injuries, concealed, description) VALUES ('AT0001', :e, :on, '重大', 11, 3, 0, 'x')"),
                     {"e": other, "on": DAY - dt.timedelta(days=150)})
    engine.dispose()
    return {"penalty_case": f"SX-art7_1-{decision_id}", "accident_case": "SX-art6_1-AT0001"}


@pytest.fixture
def wired(tmp_path, db_url, airflow_db, monkeypatch):
    warehouse(db_url)  # the deployment's init step (`creditflow db upgrade`)
    case_url = f"sqlite:///{tmp_path}/case.sqlite"
    cfg = g.GeneratorConfig(seed=33, decisions=60, start=DAY, days=1)
    g.generate_to(cfg, case_db_url=case_url, licensing_db_url=f"sqlite:///{tmp_path}/l.sqlite",
                  inbox=tmp_path / "inbox", manifest=tmp_path / "m.jsonl")
    planted = _plant_facts(case_url)
    with ServedApp(platform.create_app(db_url=f"sqlite:///{tmp_path}/pf.sqlite", processing_seconds=0.05)) as pf, \
            ServedApp(licensing.create_app(db_url=f"sqlite:///{tmp_path}/l.sqlite")) as ls:
        conns = {
            "CREDITFLOW_DB": {"conn_type": "generic", "extra": {"sqlalchemy_url": db_url}},
            "CASE_DB": {"conn_type": "generic", "extra": {"sqlalchemy_url": case_url}},
            "CREDIT_PLATFORM": {"conn_type": "http", "host": "127.0.0.1", "port": pf.port, "schema": "http",
                                "login": "creditflow-demo", "password": "demo-secret", "extra": {"backoff": 0.01}},
        }
        for name, value in conns.items():
            monkeypatch.setenv(f"AIRFLOW_CONN_{name}", json.dumps(value))
        monkeypatch.setenv("CREDITFLOW_VAR", str(tmp_path / "var"))
        engine = warehouse(db_url)
        world = World(warehouse=engine, case_db=sa.create_engine(case_url), inbox=tmp_path / "inbox",
                      drop=tmp_path / "drop", platform=pf, licensing=ls,
                      manifest=g.read_manifest(tmp_path / "m.jsonl"))
        yield world, planted
        engine.dispose()
        world.case_db.dispose()


def _after(day: dt.date):
    """The logical date of the run whose interval is ``day`` 06:30 → next day 06:30 (it acts as of the next day)."""
    nxt = day + dt.timedelta(days=1)
    return pendulum.datetime(nxt.year, nxt.month, nxt.day, 6, 30, tz="Asia/Shanghai")


def _run(dag_id: str, day: dt.date):
    from airflow.models import DagBag

    dag = DagBag(dag_folder=os.environ["AIRFLOW__CORE__DAGS_FOLDER"]).get_dag(dag_id)
    run = dag.test(logical_date=_after(day))
    states = {t.task_id: t.state for t in run.get_task_instances()}
    assert run.state == "success", states
    return states


def _snapshot(world: World) -> dict:
    """Everything a run could change: warehouse rows of the capability, and the platform's books."""
    with world.warehouse.connect() as conn:
        rows = {t.name: conn.execute(sa.select(sa.func.count()).select_from(t)).scalar_one()
                for t in (wh.credit_case, wh.credit_event, wh.credit_penalty, wh.credit_document, wh.ledger,
                          wh.ledger_history)}
        rows["states"] = sorted(conn.execute(sa.select(wh.credit_case.c.case_id, wh.credit_case.c.state)).all())
        rows["penalties"] = sorted(conn.execute(sa.select(wh.credit_penalty.c.penalty_id,
                                                          wh.credit_penalty.c.status)).all())
    pf = world.platform
    rows["platform"] = (pf.admin("GET", "/admin/stats"),
                        sorted((r["natural_key"], r["status"], r["version"]) for kind in ("dishonest_list", "penalty")
                               for r in pf.admin("GET", f"/admin/records?kind={kind}")["records"]))
    return rows


def _platform_history(world: World, kind: str) -> list[tuple[str, str]]:
    with world.platform.app.state.engine.connect() as conn:
        h = platform.history
        return [(r.natural_key, r.op) for r in conn.execute(sa.select(h).where(h.c.kind == kind).order_by(h.c.id))]


def test_credit_list_proposes_then_publishes_a_decided_listing_once(wired):
    world, planted = wired
    engine = world.warehouse
    states = _run("credit_list", DAY)
    assert {"flush_inflight", "propose_candidates", "follow_penalties", "expire", "deliver.send",
            "deliver.receipts", "alerts"} <= set(states)

    # Candidates: the planted facts, and exactly what the case system shows for the interval (cross-check).
    rows = penalties.case_rows(world.case_db, dt.datetime(2026, 11, 3, 6, 30), dt.datetime(2026, 11, 4, 6, 30))
    expected = {c["case_id"] for c in candidates.from_penalties(rows) + candidates.from_accidents(world.case_db,
                                                                                                 DAY + dt.timedelta(1))}
    with engine.connect() as conn:
        cases = {r["case_id"]: dict(r) for r in conn.execute(sa.select(wh.credit_case)).mappings()}
        proposers = set(conn.execute(sa.select(wh.credit_event.c.actor).where(
            wh.credit_event.c.action == "candidate")).scalars())
    assert set(planted.values()) <= set(cases) and set(cases) == expected
    assert {c["state"] for c in cases.values()} == {"candidate"} and proposers == {"system"}
    pc = cases[planted["penalty_case"]]
    assert pc["situation_id"] == "art7_1" and "第七条第（一）项" in pc["basis"]
    assert pc["source_ref"] == "case_db:" + planted["penalty_case"].rsplit("-", 1)[1] and "行政处罚决定书" in pc["facts"]
    assert cases[planted["accident_case"]]["situation_id"] == "art6_1"
    assert world.platform.admin("GET", "/admin/records?kind=dishonest_list")["records"] == []  # people decide first

    before = _snapshot(world)
    _run("credit_list", DAY)  # re-run: nothing proposed twice, nothing sent
    assert _snapshot(world) == before

    # People decide on the page (two of them), the next day.
    case_id, on = planted["penalty_case"], DAY + dt.timedelta(days=1)
    lifecycle.propose(engine, case_id, "issue_notice", OFFICER, on)
    lifecycle.approve(engine, case_id, CHIEF, on, "page")
    lifecycle.record_notice_delivery(engine, case_id, on, "直接送达", OFFICER)
    lifecycle.record_objection(engine, case_id, on, "放弃陈述申辩", OFFICER, waiver=True)
    lifecycle.propose(engine, case_id, "decide_listing", OFFICER, on)
    assert lifecycle.approve(engine, case_id, CHIEF, on, "page") == "listed"

    _run("credit_list", on)
    with engine.connect() as conn:
        case = lifecycle.get_case(conn, case_id)
    assert case["state"] == "published" and case["published_on"] is not None
    held = world.platform.admin("GET", "/admin/records?kind=dishonest_list")["records"]
    assert [(r["natural_key"], r["status"]) for r in held] == [(case["natural_key"], "published")]
    assert held[0]["data"]["SX_YCRQ"] == case["list_end"] == rules.due("list_management_period", on).isoformat()
    assert _platform_history(world, "dishonest_list") == [(case["natural_key"], "create")]

    before = _snapshot(world)
    _run("credit_list", on)  # re-run after publication: the platform holds it once, no second event
    assert _snapshot(world) == before


def test_credit_repair_issues_notices_and_withdraws_at_publicity_end_once(wired):
    world, _ = wired
    engine = world.warehouse
    _run("credit_repair", DAY)

    # Every decision of the interval that can be identified is tracked; organisations get a notice each.
    rows = penalties.case_rows(world.case_db, dt.datetime(2026, 11, 3, 6, 30), dt.datetime(2026, 11, 4, 6, 30))
    recs = {r["penalty_id"]: r for r in map(penalties.penalty_record, rows)
            if r is not None and r["source_status"] != "REVOKED"}
    with engine.connect() as conn:
        tracked = {r["penalty_id"]: dict(r) for r in conn.execute(sa.select(wh.credit_penalty)).mappings()}
        notices = {r["subject_id"]: dict(r) for r in conn.execute(sa.select(wh.credit_document).where(
            wh.credit_document.c.doc_type == "repair_notice")).mappings()}
    assert recs and set(tracked) == set(recs)
    organisations = {pid for pid, r in recs.items() if r["party_type"] in ("法人及非法人组织", "个体工商户")}
    assert organisations and set(notices) == organisations
    assert all(tracked[p]["notice_doc_id"] == notices[p]["doc_id"] for p in organisations)
    assert all(notices[p]["issued_on"] == recs[p]["entered_on"].isoformat() for p in organisations)

    before = _snapshot(world)
    _run("credit_repair", DAY)  # re-run: one notice per decision, nothing else
    assert _snapshot(world) == before

    # The 双公示 pipeline publishes the day's penalties ...
    run_day(world, DAY, kinds=("penalty",))
    with engine.connect() as conn:
        published = dict(conn.execute(sa.select(wh.ledger.c.natural_key, wh.ledger.c.platform_status).where(
            wh.ledger.c.kind == "penalty", wh.ledger.c.state == "accepted")).all())
    ours = {p["natural_key"]: p for p in tracked.values() if published.get(p["natural_key"]) == "published"}
    assert ours, "the pipeline published none of the tracked penalties"
    # ... and the day after the first of them reaches the last day of its maximum period (published until 24:00
    # of that day, 民法典 art. 203), credit_repair withdraws exactly those.
    end = min(p["publicity_max_until"] for p in ours.values())
    due = {nk for nk, p in ours.items() if p["publicity_max_until"] <= end}
    _run("credit_repair", dt.date.fromisoformat(end) - dt.timedelta(days=1))  # acts as of `end`: still published
    held = {r["natural_key"]: r["status"] for r in world.platform.admin("GET", "/admin/records?kind=penalty")["records"]}
    assert not any(held[nk] == "withdrawn" for nk in ours)
    _run("credit_repair", dt.date.fromisoformat(end))  # acts as of the day after `end`
    held = {r["natural_key"]: r["status"] for r in world.platform.admin("GET", "/admin/records?kind=penalty")["records"]}
    assert {nk for nk in ours if held[nk] == "withdrawn"} == due
    assert sorted(nk for nk, op in _platform_history(world, "penalty") if op == "withdraw") == sorted(due)
    with engine.connect() as conn:
        status = dict(conn.execute(sa.select(wh.credit_penalty.c.natural_key, wh.credit_penalty.c.status)).all())
    assert {nk for nk in ours if status[nk] == "ended"} == due

    before = _snapshot(world)
    _run("credit_repair", dt.date.fromisoformat(end))  # re-run: no second withdrawal
    assert _snapshot(world) == before
