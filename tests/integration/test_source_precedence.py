"""The better source wins across runs: when a district copy of a decision was published first and the
case system's original arrives later, the original replaces the copy on the platform.

* exact duplicate (same 文号 and party): the original takes the published record over (更正 when its
  content differs, no platform call when it is the same);
* near duplicate (the copy's 文号 was mistyped): the original waits for review; a reviewer's "duplicate"
  withdraws the copy and creates the original, both in one run, exactly once.
"""

from __future__ import annotations

import datetime as dt

import pytest
import sqlalchemy as sa
from creditflow.core import warehouse as wh
from creditflow.reporting import review
from creditflow_sandbox import generator as g
from creditflow_sandbox import licensing, platform
from helpers import ServedApp, World, deliver_files, run_day, warehouse

pytestmark = [pytest.mark.integration, pytest.mark.slow]
DAY = dt.date(2026, 11, 2)  # Monday
LATE = dt.date(2026, 11, 5)  # the originals are entered in the case system on Thursday


def _rates() -> dict[str, float]:
    rates = dict.fromkeys(g.DEFAULT_RATES, 0.0)
    rates.update(cross_source_duplicate=0.25, near_duplicate=0.25)
    return rates


@pytest.fixture(scope="module")
def world(tmp_path_factory, module_db_url):
    d = tmp_path_factory.mktemp("precedence")
    cfg = g.GeneratorConfig(seed=11, decisions=60, start=DAY, days=1, rates=_rates(), person_share=0.0)
    case_url = f"sqlite:///{d}/case.sqlite"
    g.generate_to(cfg, case_db_url=case_url, licensing_db_url=f"sqlite:///{d}/lic.sqlite", inbox=d / "drop",
                  manifest=d / "m.jsonl", apply_all_events=False)
    manifest = g.read_manifest(d / "m.jsonl")
    copies = [m for m in manifest if m["source"] == "district_file"
              and m.get("defect") in ("cross_source_duplicate", "near_duplicate")]
    assert {m["defect"] for m in copies} == {"cross_source_duplicate", "near_duplicate"}
    originals = {m["duplicate_of"] for m in copies}
    case_db = wh.engine_from_url(case_url)
    decisions = sa.Table("penalty_decision", sa.MetaData(), autoload_with=case_db)
    ids = [rid.split(":", 1)[1] for rid in originals]
    # The originals are not in the case system yet (entered late): hide them until LATE.
    with case_db.begin() as conn:
        hidden = [dict(r) for r in conn.execute(sa.select(decisions).where(decisions.c.decision_id.in_(ids)))
                  .mappings()]
        conn.execute(decisions.delete().where(decisions.c.decision_id.in_(ids)))
    assert len(hidden) == len(ids)
    with ServedApp(platform.create_app(db_url=f"sqlite:///{d}/pf.sqlite", processing_seconds=0.05)) as pf, \
            ServedApp(licensing.create_app(db_url=f"sqlite:///{d}/lic.sqlite")) as ls:
        w = World(warehouse(module_db_url), case_db, d / "inbox", d / "drop", pf, ls, manifest)
        w.copies, w.originals = copies, originals
        days = [DAY + dt.timedelta(days=i) for i in range(4)]  # Mon..Thu
        for day in days[:3]:  # the copies arrive on Tuesday and are published
            deliver_files(w, day)
            run_day(w, day)
        w.published_copies = {r["natural_key"] for r in pf.admin("GET", "/admin/records")["records"]}
        entered = dt.datetime.combine(LATE, dt.time(10))
        with case_db.begin() as conn:
            typed = {c.name: c.type for c in decisions.columns}
            for row in hidden:
                stamp: object = entered if isinstance(typed["created_at"], sa.DateTime) else entered.isoformat(" ")
                conn.execute(decisions.insert().values(**{**row, "created_at": stamp, "updated_at": stamp}))
        deliver_files(w, LATE)
        run_day(w, LATE)
        w.pending_after_late = review.pending(w.warehouse)
        # 层层审核: two different people confirm each near duplicate.
        for row in w.pending_after_late:
            if row["reason"] == "correction":  # an original whose 文号 text differs only in form: 更正
                review.record_decision(w.warehouse, row["record_id"], row["content_hash"], row["op"], 1,
                                       "approve", "reviewer1", "以原件内容更正")
                review.record_decision(w.warehouse, row["record_id"], row["content_hash"], row["op"], 2,
                                       "approve", "reviewer2", "同意")
            if row["reason"] == "near_duplicate":
                review.record_decision(w.warehouse, row["record_id"], row["content_hash"], row["op"], 1,
                                       "duplicate", "reviewer1", "文书号录入错误的区县副本")
                review.record_decision(w.warehouse, row["record_id"], row["content_hash"], row["op"], 2,
                                       "duplicate", "reviewer2", "同意以原件替换")  # both levels: it withdraws
        w.after = LATE + dt.timedelta(days=1)
        deliver_files(w, w.after)
        run_day(w, w.after)
        yield w


def _records(world) -> dict[tuple[str, str], dict]:
    return {(r["kind"], r["natural_key"]): r for r in world.platform.admin("GET", "/admin/records")["records"]}


def _ledger(world) -> dict[str, dict]:
    with world.warehouse.connect() as conn:
        return {r["natural_key"]: dict(r) for r in conn.execute(sa.select(wh.ledger)).mappings()}


def _latest_outcomes(world) -> dict[str, dict]:
    with world.warehouse.connect() as conn:
        rows = conn.execute(sa.select(wh.outcomes).order_by(wh.outcomes.c.run_key)).mappings().all()
    return {r["record_id"]: dict(r) for r in rows}


def test_copies_were_published_first(world):
    assert {m["natural_key"] for m in world.copies} <= world.published_copies


def _split(world) -> tuple[list[dict], list[dict]]:
    """Copies with the original's natural key (the same 文号 once normalised) and copies without it."""
    manifest = {m["record_id"]: m for m in world.manifest}
    same = [m for m in world.copies if m["natural_key"] == manifest[m["duplicate_of"]]["natural_key"]]
    return same, [m for m in world.copies if m not in same]


def test_exact_copy_is_taken_over_by_the_original(world):
    records, ledger = _records(world), _ledger(world)
    same, _ = _split(world)
    assert same
    for m in same:
        held = records[("penalty", m["natural_key"])]
        assert held["status"] == "published"
        assert ledger[m["natural_key"]]["owner_record_id"] == m["duplicate_of"]


def test_near_copy_is_replaced_by_the_original_after_review(world):
    records, ledger, latest = _records(world), _ledger(world), _latest_outcomes(world)
    manifest = {m["record_id"]: m for m in world.manifest}
    _, near = _split(world)
    assert near
    assert {r["record_id"] for r in world.pending_after_late if r["reason"] == "near_duplicate"} == \
        {m["duplicate_of"] for m in near}
    originals_by_key = {o["natural_key"]: o["record_id"] for o in world.manifest if o["source"] == "case_db"}
    for m in near:
        original = manifest[m["duplicate_of"]]
        assert records[("penalty", original["natural_key"])]["status"] == "published"
        assert ledger[original["natural_key"]]["owner_record_id"] == original["record_id"]
        mine = latest[original["record_id"]]
        assert mine["outcome"] == "uploaded" and mine["op"] in ("create", "correct")  # correct: took a 文号 over
        copy = latest[m["record_id"]]
        taker = originals_by_key.get(m["natural_key"])
        if taker:  # the mistyped 文号 is the real 文号 of another decision of the party: its original took it over
            assert records[("penalty", m["natural_key"])]["status"] == "published"
            assert ledger[m["natural_key"]]["owner_record_id"] == taker
            assert (copy["outcome"], copy["duplicate_of"]) == ("duplicate", taker)
            assert original["record_id"] in copy["detail"]
        else:  # the mistyped 文号 is gone from the platform
            assert records[("penalty", m["natural_key"])]["status"] == "withdrawn"
            assert (copy["outcome"], copy["op"], copy["duplicate_of"]) == \
                ("uploaded", "withdraw", original["record_id"])


def test_platform_holds_each_decision_once_and_reruns_send_nothing(world):
    published = [k for k, r in _records(world).items() if r["status"] == "published"]
    assert len(published) == len(set(published))
    ops = world.platform.admin("GET", "/admin/stats")["operations"]
    outcomes = _latest_outcomes(world)
    pending = sorted(r["record_id"] for r in review.pending(world.warehouse))
    for day in (LATE, world.after):
        summary = run_day(world, day)
        assert all(s["reconciled"] for s in summary.values())
    assert world.platform.admin("GET", "/admin/stats")["operations"] == ops
    # Nothing else changes either: the withdrawn copies keep their outcome, no review is reopened.
    assert {k: (v["outcome"], v["op"], v["duplicate_of"]) for k, v in _latest_outcomes(world).items()} == \
        {k: (v["outcome"], v["op"], v["duplicate_of"]) for k, v in outcomes.items()}
    assert sorted(r["record_id"] for r in review.pending(world.warehouse)) == pending
