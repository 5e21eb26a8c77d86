"""End to end: generated dirty data through every stage, day by day, against the manifest's truth.

Runs on PostgreSQL when CREDITFLOW_TEST_DATABASE_URL is set (CI always sets it), else on SQLite.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import re
from collections import Counter, defaultdict

import pytest
import sqlalchemy as sa
from creditflow.core import warehouse as wh
from creditflow.reporting import pipeline as sgs
from creditflow.reporting import review
from creditflow_sandbox import generator as g
from creditflow_sandbox import licensing, platform
from helpers import ServedApp, World, apply_events_until, deliver_files, run_day, run_for, warehouse

pytestmark = [pytest.mark.integration, pytest.mark.slow]
START = dt.date(2026, 11, 2)


class _Capture(logging.Handler):
    """Every log line the runs write (any logger, any level), formatted as an operator would read it."""

    def __init__(self, sink: list[str]):
        super().__init__(level=logging.DEBUG)
        self.sink = sink

    def emit(self, record: logging.LogRecord) -> None:
        self.sink.append(record.getMessage())


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
        w = World(warehouse(module_db_url), wh.engine_from_url(case_url), d / "inbox", d / "drop", pf, ls,
                  manifest)
        w.summaries = {}
        w.log_records, w.alerts = [], []
        capture = _Capture(w.log_records)
        logging.getLogger().addHandler(capture)
        logging.getLogger("creditflow").setLevel(logging.DEBUG)
        last = max(dt.datetime.fromisoformat(e["at"]).date() for e in g.events_of(manifest))
        for day in _active_days(manifest, last):
            apply_events_until(w, dt.datetime.combine(day + dt.timedelta(days=1), dt.time(6)))
            deliver_files(w, day)
            w.summaries[day] = run_day(w, day)
            for kind in ("penalty", "license", "coercion"):
                run = run_for(day, kind)
                alert = sgs.due_soon_alert(kind, run.run_date, sgs.due_soon_records(run, w.warehouse),
                                           sgs.due_unknown_records(run, w.warehouse))
                if alert:
                    w.alerts.append(alert)
        # 层层审核: reviewers decide what waits, as the manifest says a careful reviewer would.
        truth = {m["record_id"]: m for m in manifest}
        for row in review.pending(w.warehouse):
            if truth.get(row["record_id"], {}).get("review_decision") == "duplicate":
                review.record_decision(w.warehouse, row["record_id"], row["content_hash"], row["op"], 1,
                                       "duplicate", "reviewer1", "文书号录入错误，与已报送记录重复")
                review.record_decision(w.warehouse, row["record_id"], row["content_hash"], row["op"], 2,
                                       "duplicate", "reviewer2", "确认重复")
        assert review.sign_off(w.warehouse, 1, "reviewer1") > 0  # demo roster: 经办科室
        assert review.sign_off(w.warehouse, 2, "reviewer2") > 0  # 法规科
        w.final_day = last + dt.timedelta(days=1)
        w.summaries[w.final_day] = run_day(w, w.final_day)
        logging.getLogger().removeHandler(capture)
        yield w


def _latest_outcomes(world: World) -> dict[str, dict]:
    with world.warehouse.connect() as conn:
        rows = conn.execute(sa.select(wh.outcomes).order_by(wh.outcomes.c.run_key)).mappings().all()
    latest: dict[str, dict] = {}
    for r in rows:  # run keys sort by date within a kind (dag_id|YYYY-MM-DD)
        latest[r["record_id"]] = dict(r)
    return latest


# The summary's name of each outcome's count.
SUMMARY_FIELD = {"uploaded": "uploaded", "quarantined": "quarantined", "awaiting_review": "awaiting_review",
                 "unchanged": "unchanged", "duplicate": "duplicates"}


def test_every_run_reconciles(world):
    """Every run's summary recounted here from the warehouse's rows, not taken from ``reconcile``: each
    record the run staged has one outcome and nothing else has one; the summary's numbers are those
    outcomes' counts; every record the generator made was staged by some run; and the uploads the runs
    counted are the operations the platform received, one for one."""
    o, st = wh.outcomes, wh.staging
    staged: dict[tuple[str, str], set[str]] = defaultdict(set)
    outs: dict[tuple[str, str], dict[str, tuple[str, str | None]]] = defaultdict(dict)
    with world.warehouse.connect() as conn:
        for run_key, kind, rid in conn.execute(sa.select(st.c.run_key, st.c.kind, st.c.record_id)):
            staged[(run_key, kind)].add(rid)
        for run_key, kind, rid, outcome, op in conn.execute(sa.select(o.c.run_key, o.c.kind, o.c.record_id,
                                                                      o.c.outcome, o.c.op)):
            outs[(run_key, kind)][rid] = (outcome, op)
    runs = {(s["run_key"], kind): s for kinds in world.summaries.values() for kind, s in kinds.items()}
    assert len(runs) == 3 * len(world.summaries)
    assert set(outs) <= set(runs) and set(staged) <= set(runs)  # no rows of a run that was not summarised
    uploads: Counter[str] = Counter()
    for key, s in runs.items():
        assert set(outs[key]) == staged[key], (key, staged[key] ^ set(outs[key]))
        counts = Counter(outcome for outcome, _ in outs[key].values())
        assert set(counts) <= set(SUMMARY_FIELD), (key, counts)
        assert {f: s[f] for f in ("extracted", *SUMMARY_FIELD.values())} == \
            {"extracted": len(staged[key]), **{f: counts[k] for k, f in SUMMARY_FIELD.items()}}, key
        assert s["reconciled"], key
        uploads.update(op for outcome, op in outs[key].values() if outcome == "uploaded")
    assert {m["record_id"] for m in world.manifest} <= set().union(*staged.values())
    assert uploads == world.platform.admin("GET", "/admin/stats")["operations"]
    assert uploads["create"] > 100 and uploads["correct"] > 0  # the check has teeth: first uploads and corrections


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
    for day in [*list(world.summaries)[:4], world.final_day]:
        run_day(world, day)
    assert _snapshot(world) == before
    assert world.platform.admin("GET", "/admin/stats")["operations"] == ops_before


# Tables that hold the data itself (what the platform must receive): everything else is what people see.
# Since #19 §3 no column is exempt: payloads keep personal values sealed and keys hold blind indexes.
DATA_COLUMNS: set[tuple[str, str]] = set()

# Hex digests and batch ids: machine identifiers, never read as text (a digest may hold a digit run).
MACHINE_SUFFIXES = ("_hash", "idempotency_key", "batch_key", "batch_id")


def test_no_unmasked_id_numbers_in_what_people_see(world):
    """Every row of every table a person or a log sees — findings, outcomes, run summaries, file records,
    reviews and their audit rows, ledger messages — plus every log line the runs wrote and every alert."""
    from creditflow.common import contains_unmasked_id

    ids = {m["natural_key"].split("|")[1] for m in world.manifest if re.fullmatch(r"\d{17}[\dX]",
                                                                                   m["natural_key"].split("|")[1])}
    assert ids, "the generator made no natural persons"
    leaks: list[str] = []
    scanned = 0
    with world.warehouse.connect() as conn:
        for table in wh.metadata.sorted_tables:
            text_cols = [c for c in table.columns if isinstance(c.type, (sa.String, sa.Text))
                         and (table.name, c.name) not in DATA_COLUMNS and not c.name.endswith(MACHINE_SUFFIXES)]
            for row in conn.execute(sa.select(*text_cols)):
                for col, value in zip(text_cols, row, strict=True):
                    scanned += 1
                    if value is not None and contains_unmasked_id(value):
                        leaks.append(f"{table.name}.{col.name}: {str(value)[:60]}")
    for row in review.pending(world.warehouse):
        if contains_unmasked_id(row.get("preview")):
            leaks.append("review preview")
    for rec in world.log_records:
        if contains_unmasked_id(rec):
            leaks.append(f"log: {rec[:60]}")
    for subject, body in world.alerts:
        if contains_unmasked_id(subject + body):
            leaks.append(f"alert: {subject}")
    assert scanned > 1000 and world.log_records and world.alerts
    assert not leaks, leaks[:5]
    # The natural persons' ID numbers are kept sealed (#19 §3): nowhere in clear, but opened the payloads
    # still carry them, where the platform needs them.
    from creditflow.core import pii

    with world.warehouse.connect() as conn:
        payloads = [p for (p,) in conn.execute(sa.select(wh.standardised.c.payload))]
        pending = [p for (p,) in conn.execute(sa.select(wh.ledger.c.pending_payload)) if p]
    assert not any(i in p for p in payloads + pending for i in ids)
    # Nor any natural person's name (parties, legal representatives) from the case system, in any column.
    with world.case_db.connect() as conn:
        names = {n for (n,) in conn.execute(sa.text("SELECT person_name FROM person")) if n}
        names |= {n for (n,) in conn.execute(sa.text("SELECT legal_rep FROM enterprise")) if n}
    assert names
    with world.warehouse.connect() as conn:
        for table in wh.metadata.sorted_tables:
            cols = [c for c in table.columns if isinstance(c.type, (sa.String, sa.Text))]
            for row in conn.execute(sa.select(*cols)):
                found = [(table.name, c.name) for c, v in zip(cols, row, strict=True) if v and any(n in v for n in names)]
                assert not found, found
    assert any(i in json.dumps(pii.open_json(p), ensure_ascii=False) for p in payloads for i in ids)
    assert any(i in json.dumps(pii.open_json(p), ensure_ascii=False) for p in pending for i in ids)


def test_due_soon_flags_only_waiting_records_close_to_their_deadline(world):
    from creditflow.core.workdays import working_days_between

    with world.warehouse.connect() as conn:
        rows = conn.execute(sa.select(wh.outcomes).where(wh.outcomes.c.due_soon.is_(True))).mappings().all()
    assert rows, "natural persons wait for review for days: some must have been flagged due soon"
    for r in rows:
        run_day = dt.date.fromisoformat(r["run_key"].split("|")[1]) + dt.timedelta(days=1)
        assert r["outcome"] in ("awaiting_review", "quarantined")
        assert 0 <= working_days_between(run_day, dt.date.fromisoformat(r["due_date"])) <= 2
