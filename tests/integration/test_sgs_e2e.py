"""End to end: generated dirty data through every stage, day by day, against the manifest's truth.

Runs on PostgreSQL when CREDITFLOW_TEST_DATABASE_URL is set (CI always sets it), else on SQLite.
"""

from __future__ import annotations

import datetime as dt
import re
from collections import Counter

import pytest
import sqlalchemy as sa
from creditflow.core import warehouse as wh
from creditflow.reporting import review
from creditflow_sandbox import generator as g
from creditflow_sandbox import licensing, platform
from helpers import ServedApp, World, apply_events_until, deliver_files, run_day

pytestmark = [pytest.mark.integration, pytest.mark.slow]
START = dt.date(2026, 11, 2)


def _active_days(manifest, until: dt.date) -> list[dt.date]:
    """Days on which something happens (decisions, file arrivals, source events) — the runs in between
    would only carry over waiting records, which the next run does as well."""
    days = {dt.date.fromisoformat(m["decision_date"]) for m in manifest}
    days |= {dt.date.fromisoformat(m["file_day"]) for m in manifest if m.get("file_day")}
    days |= {dt.datetime.fromisoformat(e["at"]).date() for e in g.events_of(manifest)}
    return sorted(d for d in days if d <= until)


def _snapshot(world: World) -> tuple:
    records = world.platform.admin("GET", "/admin/records")["records"]
    with world.warehouse.connect() as conn:
        ledger = sorted(tuple(r) for r in conn.execute(sa.select(
            wh.ledger.c.kind, wh.ledger.c.natural_key, wh.ledger.c.owner_record_id, wh.ledger.c.accepted_hash,
            wh.ledger.c.platform_status, wh.ledger.c.state)))
    return sorted((r["kind"], r["natural_key"], r["version"], r["status"], r["content_hash"]) for r in records), ledger


@pytest.fixture(scope="module")
def world(tmp_path_factory, module_db_url):
    d = tmp_path_factory.mktemp("e2e")
    cfg = g.GeneratorConfig(seed=7, decisions=160, start=START, days=5)
    case_url = module_db_url if module_db_url.startswith("postgresql") else f"sqlite:///{d}/case.sqlite"
    g.generate_to(cfg, case_db_url=case_url, licensing_db_url=f"sqlite:///{d}/lic.sqlite", inbox=d / "drop",
                  manifest=d / "m.jsonl", apply_all_events=False)
    (d / "inbox").mkdir()
    manifest = g.read_manifest(d / "m.jsonl")
    with ServedApp(platform.create_app(db_url=f"sqlite:///{d}/pf.sqlite", processing_seconds=0.05)) as pf, \
            ServedApp(licensing.create_app(db_url=f"sqlite:///{d}/lic.sqlite")) as ls:
        w = World(wh.engine_from_url(module_db_url), wh.engine_from_url(case_url), d / "inbox", d / "drop", pf, ls,
                  manifest)
        w.summaries = {}
        last = max(dt.datetime.fromisoformat(e["at"]).date() for e in g.events_of(manifest))
        for day in _active_days(manifest, last):
            apply_events_until(w, dt.datetime.combine(day + dt.timedelta(days=1), dt.time(6)))
            deliver_files(w, day)
            w.summaries[day] = run_day(w, day)
        # 层层审核: reviewers decide what waits, as the manifest says a careful reviewer would.
        truth = {m["record_id"]: m for m in manifest}
        for row in review.pending(w.warehouse):
            if truth.get(row["record_id"], {}).get("review_decision") == "duplicate":
                review.record_decision(w.warehouse, row["record_id"], row["content_hash"], row["op"], 1,
                                       "duplicate", "法规科-王", "文书号录入错误，与已报送记录重复")
        assert review.sign_off(w.warehouse, 1, "经办科室-李") > 0
        assert review.sign_off(w.warehouse, 2, "法规科-王") > 0
        w.final_day = last + dt.timedelta(days=1)
        w.summaries[w.final_day] = run_day(w, w.final_day)
        yield w


def _latest_outcomes(world: World) -> dict[str, dict]:
    with world.warehouse.connect() as conn:
        rows = conn.execute(sa.select(wh.outcomes).order_by(wh.outcomes.c.run_key)).mappings().all()
    latest: dict[str, dict] = {}
    for r in rows:  # run keys sort by date within a kind (dag_id|YYYY-MM-DD)
        latest[r["record_id"]] = dict(r)
    return latest


def test_every_run_reconciles(world):
    for day, kinds in world.summaries.items():
        for kind, s in kinds.items():
            assert s["reconciled"], (day, kind, s)
            assert s["extracted"] == (s["uploaded"] + s["quarantined"] + s["awaiting_review"] + s["unchanged"]
                                      + s["duplicates"])


def test_every_record_reaches_the_manifest_outcome(world):
    latest = _latest_outcomes(world)
    records = {(r["kind"], r["natural_key"]): r for r in world.platform.admin("GET", "/admin/records")["records"]}
    with world.warehouse.connect() as conn:
        findings = {(r.record_id, r.rule_id, r.field) for r in conn.execute(
            sa.select(wh.findings.c.record_id, wh.findings.c.rule_id, wh.findings.c.field))}
    mismatches = []
    for m in world.manifest:
        rid, outcome = m["record_id"], m["outcome"]
        got = latest.get(rid)
        if got is None:
            mismatches.append((rid, outcome, "never extracted"))
            continue
        held = records.get((m["kind"], m["natural_key"]))
        if outcome == "uploaded":
            ok = got["outcome"] in ("uploaded", "unchanged") and held is not None and held["status"] == "published"
        elif outcome == "quarantined":
            ok = got["outcome"] == "quarantined" and (rid, m["rule"], m["field"]) in findings and held is None
        elif outcome == "duplicate":
            ok = got["outcome"] == "duplicate" and got["duplicate_of"] == m["duplicate_of"]
        elif outcome == "corrected":
            ok = held is not None and held["status"] == "published" and held["version"] == 2
        elif outcome == "withdrawn":
            ok = held is not None and held["status"] == "withdrawn"
        else:
            ok = False
        if not ok:
            mismatches.append((rid, m.get("defect"), outcome, got["outcome"], got["detail"], held and held["status"]))
    assert not mismatches, f"{len(mismatches)} records off the manifest, e.g. {mismatches[:5]}"
    assert Counter(m["outcome"] for m in world.manifest)["quarantined"] > 0  # the data was dirty


def test_platform_holds_each_valid_decision_exactly_once(world):
    held = world.platform.admin("GET", "/admin/records")["records"]
    keys = [(r["kind"], r["natural_key"]) for r in held]
    assert len(keys) == len(set(keys))
    expected = {(m["kind"], m["natural_key"]) for m in world.manifest
                if m["outcome"] in ("uploaded", "corrected", "withdrawn")}
    assert {k for k in keys} == expected


def test_late_entries_are_flagged_and_still_uploaded(world):
    latest_late = {}
    with world.warehouse.connect() as conn:
        for r in conn.execute(sa.select(wh.outcomes.c.record_id, wh.outcomes.c.late, wh.outcomes.c.outcome)):
            if r.outcome == "uploaded":
                latest_late[r.record_id] = bool(r.late)
    late = [m for m in world.manifest if m.get("late")]
    assert late, "the generator made no late entries"
    for m in late:
        assert latest_late.get(m["record_id"]) is True, m["record_id"]


def test_rerunning_every_day_changes_nothing(world):
    """A backfill of the same days (with reprocessing) reaches the same platform and ledger state."""
    before = _snapshot(world)
    ops_before = world.platform.admin("GET", "/admin/stats")["operations"]
    for day in list(world.summaries)[:4] + [world.final_day]:
        run_day(world, day)
    assert _snapshot(world) == before
    assert world.platform.admin("GET", "/admin/stats")["operations"] == ops_before


def test_no_unmasked_id_numbers_in_what_people_see(world):
    ids = {m["natural_key"].split("|")[1] for m in world.manifest if re.fullmatch(r"\d{17}[\dX]",
                                                                                   m["natural_key"].split("|")[1])}
    assert ids, "the generator made no natural persons"
    with world.warehouse.connect() as conn:
        texts = [str(x) for row in conn.execute(sa.select(wh.findings.c.message_zh, wh.findings.c.detail,
                                                          wh.outcomes.c.detail).select_from(wh.findings.outerjoin(
                                                              wh.outcomes, sa.true())).limit(20000)) for x in row]
        texts += [f"{r.record_id} {r.duplicate_of} {r.detail}" for r in conn.execute(sa.select(wh.outcomes))]
    for row in review.pending(world.warehouse):
        texts.append(str(row["preview"]))
    blob = "\n".join(texts)
    assert not any(i in blob for i in ids)


def test_due_soon_flags_only_waiting_records_close_to_their_deadline(world):
    from creditflow.core.workdays import working_days_between

    with world.warehouse.connect() as conn:
        rows = conn.execute(sa.select(wh.outcomes).where(wh.outcomes.c.due_soon.is_(True))).mappings().all()
    assert rows, "natural persons wait for review for days: some must have been flagged due soon"
    for r in rows:
        run_day = dt.date.fromisoformat(r["run_key"].split("|")[1]) + dt.timedelta(days=1)
        assert r["outcome"] in ("awaiting_review", "quarantined")
        assert 0 <= working_days_between(run_day, dt.date.fromisoformat(r["due_date"])) <= 2
