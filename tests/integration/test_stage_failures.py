"""Nothing silent: a record whose deadline cannot be computed is flagged, alerted and fails the run; a
Data Docs failure fails the validate stage; GX does not flood the task log."""

from __future__ import annotations

import datetime as dt
import logging

import pytest
import sqlalchemy as sa
from creditflow.common import contains_unmasked_id
from creditflow.core import rules, workdays
from creditflow.core import warehouse as wh
from creditflow.reporting import pipeline as sgs
from creditflow_sandbox import generator as g
from creditflow_sandbox import licensing, platform
from helpers import ServedApp, World, deliver_files, platform_client, run_for, warehouse

pytestmark = [pytest.mark.integration]
DAY = dt.date(2026, 11, 2)


@pytest.fixture
def world(tmp_path, db_url):
    rates = dict.fromkeys(g.DEFAULT_RATES, 0.0)
    cfg = g.GeneratorConfig(seed=3, decisions=40, start=DAY, days=1, rates=rates, person_share=0.2)
    case_url = f"sqlite:///{tmp_path}/case.sqlite"
    g.generate_to(cfg, case_db_url=case_url, licensing_db_url=f"sqlite:///{tmp_path}/lic.sqlite",
                  inbox=tmp_path / "drop", manifest=tmp_path / "m.jsonl", apply_all_events=False)
    with ServedApp(platform.create_app(db_url=f"sqlite:///{tmp_path}/pf.sqlite", processing_seconds=0.02)) as pf, \
            ServedApp(licensing.create_app(db_url=f"sqlite:///{tmp_path}/lic.sqlite")) as ls:
        w = World(warehouse(db_url), wh.engine_from_url(case_url), tmp_path / "inbox", tmp_path / "drop",
                  pf, ls, g.read_manifest(tmp_path / "m.jsonl"))
        deliver_files(w, DAY)
        yield w


@pytest.fixture
def year_uncovered(monkeypatch):
    """The official calendar without the year of the test's decisions: "uncovered" is a property of this
    fixture, not of whichever calendar files exist when the test runs."""
    cal = workdays.WorkdayCalendar(workdays.default_override_dirs())
    del cal.years[DAY.year]
    monkeypatch.setattr(workdays, "official_calendar", lambda: cal)
    monkeypatch.setattr(rules, "official_calendar", lambda: cal)
    return DAY.year


def _stages_until_decide(world: World, run) -> None:
    client = platform_client(world.platform.url)
    sources = sgs.Sources(case_db=world.case_db, inbox=world.inbox)
    sgs.extract(run, world.warehouse, sources)
    sgs.standardise(run, world.warehouse)
    sgs.validate(run, world.warehouse)
    sgs.flush_inflight(run, world.warehouse, client, wait=5, poll=0.1)
    sgs.decide(run, world.warehouse)
    sgs.upload(run, world.warehouse, client)
    while sgs.collect_receipts(run, world.warehouse, client)["still_processing"]:
        pass


def test_unknown_deadline_is_flagged_alerted_and_the_run_succeeds(world, year_uncovered):
    # Issue #16.4: a record whose deadline lies beyond the official calendar is processed and published, its
    # deadline stored as unknown with the reason, alerted — never a failed run.
    run = run_for(DAY, "penalty")
    _stages_until_decide(world, run)
    with world.warehouse.connect() as conn:
        flagged = conn.execute(sa.select(wh.findings).where(wh.findings.c.rule_id == "DUE_DATE_UNKNOWN")
                               ).mappings().all()
        staged = conn.execute(sa.select(sa.func.count()).select_from(wh.staging)
                              .where(wh.staging.c.run_key == run.run_key)).scalar_one()
        outcomes = conn.execute(sa.select(wh.outcomes.c.outcome, wh.outcomes.c.due_date, wh.outcomes.c.review_reason)
                                .where(wh.outcomes.c.run_key == run.run_key)).all()
    assert flagged and len({f["record_id"] for f in flagged}) == staged  # every record of the day, no exception
    assert all(f["severity"] == "warning" and f"待定（{year_uncovered}年官方日历未发布）" in f["message_zh"]
               for f in flagged)
    assert all(o.due_date is None for o in outcomes)
    assert any(o.outcome == "uploaded" for o in outcomes)  # published as usual
    assert not any(o.review_reason == "warnings" for o in outcomes)  # the calendar's gap is not the record's
    unknown = sgs.due_unknown_records(run, world.warehouse)
    subject, body = sgs.due_soon_alert("penalty", run.run_date, sgs.due_soon_records(run, world.warehouse), unknown)
    assert "待定" in subject and f"{year_uncovered}" in body and not contains_unmasked_id(subject + body)
    summary = sgs.reconcile(run, world.warehouse)  # no exception: the run succeeds
    assert summary["reconciled"] and summary["extracted"] == staged


def test_deadlines_appear_when_the_calendar_is_added_without_a_rerun(world, year_uncovered, monkeypatch):
    from creditflow.core.duedates import sgs_due

    run = run_for(DAY, "penalty")
    _stages_until_decide(world, run)
    assert sgs.reconcile(run, world.warehouse)["reconciled"]
    with world.warehouse.connect() as conn:
        stored = conn.execute(sa.select(wh.standardised.c.decision_date, wh.standardised.c.due_date)
                              .where(wh.standardised.c.run_key == run.run_key)).all()
    assert stored and all(r.due_date is None for r in stored)
    assert all(not sgs_due(r.decision_date).known for r in stored)
    monkeypatch.undo()  # the year's file is added: nothing re-entered, nothing re-run
    for r in stored:  # 国办发〔2015〕51号: 7 working days from the decision, computed when read
        assert sgs_due(r.decision_date).date == workdays.add_working_days(dt.date.fromisoformat(r.decision_date), 7)


def test_a_result_store_failure_fails_validate_after_findings_are_kept(world, tmp_path, year_uncovered):
    run = run_for(DAY, "penalty")
    sources = sgs.Sources(case_db=world.case_db, inbox=world.inbox)
    staged = sgs.extract(run, world.warehouse, sources)["total"]
    sgs.standardise(run, world.warehouse)
    from creditflow.core.storage import Storage

    class FullDisk(Storage):
        """A gx area that cannot be written (disk full, permissions, a bad bucket)."""

        def write_text(self, key, text, encoding="utf-8"):
            raise OSError(28, "No space left on device")

    with pytest.raises(sgs.QualityReportError, match="No space left on device"):  # the disk error, not a TypeError
        sgs.validate(run, world.warehouse, gx_project_dir=FullDisk.local(tmp_path / "gx"))
    with world.warehouse.connect() as conn:  # the run's findings were committed before the result failed
        kept = conn.execute(sa.select(sa.func.count()).select_from(wh.findings)
                            .where(wh.findings.c.run_key == run.run_key)).scalar_one()
    assert kept == staged > 0  # one DUE_DATE_UNKNOWN warning per record (the fixture hides the year)


def test_validate_keeps_the_task_log_to_what_an_operator_reads(world, caplog):
    run = run_for(DAY, "penalty")
    sources = sgs.Sources(case_db=world.case_db, inbox=world.inbox)
    sgs.extract(run, world.warehouse, sources)
    sgs.standardise(run, world.warehouse)
    caplog.clear()
    with caplog.at_level(logging.INFO):
        sgs.validate(run, world.warehouse)
    gx_lines = [r for r in caplog.records if r.name.startswith("great_expectations") and r.levelno < logging.WARNING]
    assert not gx_lines, f"{len(gx_lines)} GX INFO lines, e.g. {gx_lines[0].getMessage()[:80]}"
    assert len(caplog.records) < 20


def test_results_on_object_storage_from_two_workers_are_all_listed(world):
    """Workers share no disk: with the gx area on object storage (fsspec memory:// here, S3 in production)
    each worker writes its run's result there, and 数据质量报告 (which reads only the storage) lists the runs
    of both — no local site, no sync, no Data Docs HTML."""
    import uuid

    from creditflow.core import standard
    from creditflow.core.storage import Storage
    from creditflow.reporting.pipeline.validate import _store_result
    from creditflow.reporting.validation import validate_gx
    from creditflow_ui import quality

    store = Storage.from_url(f"memory://cf-gx-{uuid.uuid4().hex[:8]}/gx")
    run = run_for(DAY, "penalty")
    sgs.extract(run, world.warehouse, sgs.Sources(case_db=world.case_db, inbox=world.inbox))
    sgs.standardise(run, world.warehouse)
    sgs.validate(run, world.warehouse, gx_project_dir=Storage.from_url(store.url))  # worker 1: the stage itself
    frame = sgs.load_standardised(run, world.warehouse)
    _, result = validate_gx(frame[[*standard.codes("penalty"), "_row"]], "penalty", DAY)
    _store_result(Storage.from_url(store.url), result, run_for(DAY + dt.timedelta(days=1), "penalty"))  # worker 2
    keys = [f.key for f in store.list_files("penalty", recursive=True)]
    assert keys and all(k.endswith(".json") for k in keys), keys[:10]
    listed = {r.run_name for r in quality.list_runs(store, "penalty")}
    assert listed == {run_for(d, "penalty").run_key.replace("|", "_") for d in (DAY, DAY + dt.timedelta(days=1))}
    shown = quality.load_run(store, "penalty", run_for(DAY, "penalty").run_key.replace("|", "_"))
    assert shown is not None and shown.records and shown.checks
