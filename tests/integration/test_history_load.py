"""The history-load path (``pipeline.interval.process_range``, used by ``sgs_history``) ends where the daily
runs of the same days end: same ledger, same outcomes and reconciliation per interval, same platform
content, nothing sent twice — and one failing day does not hide the others.

Both paths run against the same sources (a generated week and a half with late entries, 更正, 撤销,
near-duplicates and district files, every event already applied, every file in the inbox with its arrival
time): the daily path calls the stages one by one per day and kind, as the tasks of ``sgs_<kind>`` do (day
after day, all kinds each day); the history path loads each kind over the whole range (kind after kind).
"""

from __future__ import annotations

import datetime as dt
import importlib
import shutil
import time

import pytest
from conftest import _fresh_db
from creditflow.core import warehouse as wh
from creditflow.reporting import pipeline as sgs
from creditflow.reporting.pipeline import interval
from creditflow_sandbox import generator as g
from creditflow_sandbox import licensing, platform
from helpers import ServedApp, end_state, licensing_client, platform_client, warehouse

pytestmark = [pytest.mark.integration, pytest.mark.slow]
FIRST = dt.date(2026, 9, 28)  # across the National Day holiday (non-working days move the deadlines)
LAST = dt.date(2026, 10, 9)
KINDS = ("penalty", "license", "coercion")


@pytest.fixture(scope="module")
def sources(tmp_path_factory):
    d = tmp_path_factory.mktemp("history")
    cfg = g.GeneratorConfig(seed=11, decisions=150, start=FIRST, days=(LAST - FIRST).days - 2)
    g.generate_to(cfg, case_db_url=f"sqlite:///{d}/case.sqlite", licensing_db_url=f"sqlite:///{d}/lic.sqlite",
                  inbox=d / "inbox", manifest=d / "m.jsonl")
    assert any((d / "inbox").rglob("*.xlsx")) or any((d / "inbox").rglob("*.csv")), "no district files"
    with ServedApp(licensing.create_app(db_url=f"sqlite:///{d}/lic.sqlite")) as ls:
        yield d, ls


def _world(sources, tmp_path_factory, name):
    d, ls = sources
    own = tmp_path_factory.mktemp(name)
    shutil.copytree(d / "inbox", own / "inbox")  # copy2: arrival times (mtimes) kept
    db = _fresh_db(own)
    url = next(db)
    pf = ServedApp(platform.create_app(db_url=f"sqlite:///{own}/pf.sqlite", processing_seconds=0.02)).__enter__()
    engine = warehouse(url)
    src = sgs.Sources(case_db=wh.engine_from_url(f"sqlite:///{d}/case.sqlite"),
                      licensing=licensing_client(ls.url), inbox=own / "inbox")
    return {"engine": engine, "sources": src, "platform": pf, "client": platform_client(pf.url), "db": db}


def _close(world):
    world["platform"].__exit__(None, None, None)
    world["engine"].dispose()
    next(world["db"], None)


def _daily(world):
    """What the daily DAGs do: each day, each kind, one stage per task."""
    engine, sources, client = world["engine"], world["sources"], world["client"]
    for day in interval.days_between(FIRST, LAST):
        for kind in KINDS:
            run = interval.interval_run(kind, day)
            ext = sgs.extract(run, engine, sources)
            sgs.standardise(run, engine)
            sgs.validate(run, engine)
            sgs.flush_inflight(run, engine, client, wait=10, poll=0.05)
            sgs.decide(run, engine)
            sgs.upload(run, engine, client)
            deadline = time.monotonic() + 15
            while sgs.collect_receipts(run, engine, client)["still_processing"]:
                assert time.monotonic() < deadline
                time.sleep(0.05)
            sgs.reconcile(run, engine, rejected_files=ext.get("rejected_files", 0))


def _state(world) -> dict:
    return end_state(world["engine"], world["platform"])


@pytest.fixture(scope="module")
def daily_state(sources, tmp_path_factory):
    world = _world(sources, tmp_path_factory, "daily")
    try:
        _daily(world)
        yield _state(world)
    finally:
        _close(world)


def _receipts_seen_late(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """The load's one look at an open day's receipts never finds them in: as with a platform slower than a
    day's preparation, every day after the first decides early or waits — without depending on the
    machine's speed (the receipts are collected when the load must wait: an in-flight row read, eight
    days open, the end)."""
    monkeypatch.setattr(interval, "_receipts_in", lambda *_a: False)


@pytest.mark.parametrize("late", [False, True], ids=["answers-at-once", "answers-later"])
def test_history_load_ends_where_the_daily_runs_end(sources, tmp_path_factory, daily_state, monkeypatch, late):
    """With a platform that answers before the next day decides, and with one that answers later — then a
    day decides before the day before's receipts are in, unless it reads a row still in flight."""
    from creditflow.reporting.pipeline import stages

    world = _world(sources, tmp_path_factory, "load")
    if late:
        _receipts_seen_late(monkeypatch)
    real, waited = stages.decide, []

    def decide(run, engine, *a, **kw):  # type: ignore[no-untyped-def]
        try:
            return real(run, engine, *a, **kw)
        except interval.InFlightError:
            waited.append(run.run_key)
            raise

    monkeypatch.setattr(stages, "decide", decide)
    try:
        results = []
        for kind in KINDS:
            results += interval.process_range(kind, FIRST, LAST, world["engine"], world["sources"], world["client"])
        assert [r.state for r in results] == ["success"] * len(results), [r.as_dict() for r in results
                                                                          if r.state != "success"]
        assert len(results) == 3 * len(interval.days_between(FIRST, LAST))
        state = _state(world)
    finally:
        _close(world)
    early = sum(r.decided_early for r in results)
    if late:  # both paths were taken: the test compares something
        assert early >= 5 and waited, (early, waited)
    assert daily_state["summaries"] and sum(int(s[3]) for s in daily_state["summaries"]) > 50  # uploads happened
    assert any(s[5] != "0" for s in daily_state["summaries"]), "no review in the data: the test would be weak"
    for part in ("platform", "operations", "ledger", "outcomes", "summaries", "findings", "reviews"):
        assert state[part] == daily_state[part], part
    # Nothing sent twice: one platform record per natural key and kind.
    keys = [(r[0], r[1]) for r in state["platform"]]
    assert len(keys) == len(set(keys))


def test_a_failing_day_does_not_hide_the_others_and_a_retry_finishes_it(sources, tmp_path_factory, daily_state,
                                                                         monkeypatch):
    world = _world(sources, tmp_path_factory, "failing")
    bad = FIRST + dt.timedelta(days=2)
    from creditflow.reporting.pipeline import stages  # where the stage functions look their steps up

    real = stages.validate

    def flaky(run, engine, **kw):  # type: ignore[no-untyped-def]
        if run.start.date() == bad and run.kind == "penalty":
            raise OSError("数据质量报告目录暂时不可写（模拟）110101199003074514")
        return real(run, engine, **kw)

    try:
        began = wh.now_iso()
        monkeypatch.setattr(stages, "validate", flaky)
        seen = []
        first = interval.process_range("penalty", FIRST, LAST, world["engine"], world["sources"], world["client"],
                                       on_day=lambda r: seen.append(interval.history_log_line(r)))
        states = {r.day: r.state for r in first}
        assert states[bad] == "failed" and all(s == "success" for d, s in states.items() if d != bad)
        failed = next(r for r in first if r.state == "failed")
        assert "OSError" in failed.error and "110101199003074514" not in failed.error  # masked
        assert len(seen) == len(first) and any("失败" in line for line in seen)
        summary = interval.range_summary([r.as_dict() for r in first])
        assert summary["kinds"]["penalty"]["failed"] == 1 and summary["failed"][0]["day"] == bad.isoformat()

        # The cause is fixed; the retry skips what this load finished and does only the failed day.
        monkeypatch.setattr(stages, "validate", real)
        done = interval.finished_days(world["engine"], "penalty", FIRST, LAST, began)
        assert bad not in done and len(done) == len(first) - 1
        second = interval.process_range("penalty", FIRST, LAST, world["engine"], world["sources"],
                                        world["client"], skip=lambda d: d in done)
        assert [(r.day, r.state) for r in second] == [(bad, "success")]
        state = _state(world)
    finally:
        _close(world)
    penalty_daily = {r for r in daily_state["platform"] if r[0] == "penalty"}
    # Same records published, each once (the failed day's records went up a few days late, so a later
    # day's run may have seen them as new rather than as 更正: versions are compared as a set of keys).
    assert {(r[1], r[3]) for r in state["platform"]} == {(r[1], r[3]) for r in penalty_daily}
    keys = [r[1] for r in state["platform"]]
    assert len(keys) == len(set(keys))
    summaries = [s for s in state["summaries"] if s[1] == "penalty"]
    assert len(summaries) == len(interval.days_between(FIRST, LAST)) and all(s[-1] == "True" for s in summaries)


def test_a_load_keeps_no_opened_fields_after_it_ends(sources, tmp_path_factory, monkeypatch):
    """validate opens a day's personal fields and decide takes them; a day whose decide never ran (it failed)
    leaves none behind once the load ends — nor does a single interval."""
    from creditflow.reporting.pipeline import stages

    standardise = importlib.import_module("creditflow.reporting.pipeline.standardise")
    world = _world(sources, tmp_path_factory, "opened")

    def broken(run, engine, **kw):  # type: ignore[no-untyped-def]
        raise RuntimeError("台账暂时不可用（模拟）")

    try:
        monkeypatch.setattr(stages, "decide", broken)
        results = interval.process_range("penalty", FIRST, FIRST, world["engine"], world["sources"], world["client"])
        assert [r.state for r in results] == ["failed"]
        assert standardise._OPENED is None
        with pytest.raises(RuntimeError, match="台账"):
            interval.process_interval(interval.interval_run("penalty", FIRST + dt.timedelta(days=1)), world["engine"],
                                      world["sources"], world["client"])
        assert standardise._OPENED is None
    finally:
        _close(world)


def test_a_load_keeps_each_days_result_for_the_quality_report(sources, tmp_path_factory):
    """A load keeps every validated day's GX result where 数据质量报告 reads it, and no Data Docs HTML."""
    from creditflow_ui import quality

    world = _world(sources, tmp_path_factory, "docs")
    gx_dir = tmp_path_factory.mktemp("gx")
    try:
        results = interval.process_range("coercion", FIRST, LAST, world["engine"], world["sources"], world["client"],
                                         interval.IntervalOptions(gx_project_dir=gx_dir))
        validated = [r.day for r in results if r.state == "success" and r.summary["extracted"]]
        assert len(validated) >= 3 and all(r.state == "success" for r in results)
        listed = {r.run_name for r in quality.list_runs(gx_dir, "coercion")}
        assert listed == {f"sgs_coercion_{d.isoformat()}" for d in validated}, listed
        assert not list(gx_dir.rglob("*.html"))
    finally:
        _close(world)


def test_range_checks():
    assert interval.check_range("2024-01-01", "2026-10-31", "2026-11-01") == (dt.date(2024, 1, 1),
                                                                              dt.date(2026, 10, 31))
    with pytest.raises(ValueError, match="backfill"):
        interval.check_range("2026-10-01", "2026-11-01", "2026-11-01")
    with pytest.raises(ValueError, match="早于"):
        interval.check_range("2026-10-05", "2026-10-01", "2026-11-01")
    with pytest.raises(ValueError, match="YYYY-MM-DD"):
        interval.check_range("2026-13-01", "2026-10-01", "2026-11-01")


def test_a_load_stopped_with_days_open_resumes_to_where_the_daily_runs_end(sources, tmp_path_factory, daily_state,
                                                                          monkeypatch):
    """A load killed while days are open — decided early and uploaded, not reconciled — and retried (skipping
    the days it reconciled) ends where the daily runs end: no open day's retry finds its rows taken over by a
    later day that decided early (the days it decided are finished, not decided again), nothing is sent twice."""
    world = _world(sources, tmp_path_factory, "stopped")
    _receipts_seen_late(monkeypatch)

    class Killed(BaseException):
        """A task timeout or kill (Airflow's are BaseExceptions)."""

    def kill_after(result: interval.DayResult) -> None:
        if result.day == FIRST + dt.timedelta(days=3):
            raise Killed

    import sqlalchemy as sa

    try:
        began, open_at_kill = wh.now_iso(), 0
        for kind in KINDS:
            with pytest.raises(Killed):
                interval.process_range(kind, FIRST, LAST, world["engine"], world["sources"], world["client"],
                                       on_day=kill_after)
            done = interval.finished_days(world["engine"], kind, FIRST, LAST, began)
            assert FIRST + dt.timedelta(days=3) in done and LAST not in done
            with world["engine"].connect() as conn:  # days that had decided (early) and were not reconciled
                decided = {r[0] for r in conn.execute(sa.select(wh.outcomes.c.run_key).distinct().where(
                    wh.outcomes.c.kind == kind))}
            open_at_kill += len(decided - {interval.interval_run(kind, d).run_key for d in done})
            results = interval.process_range(kind, FIRST, LAST, world["engine"], world["sources"], world["client"],
                                             skip=lambda d: d in done,  # noqa: B023 (called within the loop)
                                             resumed_since=began)
            assert results and all(r.state == "success" for r in results), [r.as_dict() for r in results]
        state = _state(world)
    finally:
        _close(world)
    assert open_at_kill >= 5  # the kill left days open: the test compares something
    for part in ("platform", "operations", "ledger", "outcomes", "summaries", "findings", "reviews"):
        assert state[part] == daily_state[part], part
