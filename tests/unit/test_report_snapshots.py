"""Snapshots of closed periods (creditflow.reports.snapshots): the report made with them is byte-identical
to the report computed fresh; another fingerprint, a backfilled day or a window that saw other rows makes
the period computed again; a period not yet closed is never stored.

The warehouse is the benchmark's (bench/reports.py ``fill``) at 10 records a day: a year of runs, ledger
history, quarantine, review, late and corrected records, reported for 2026-10 (cut-off 2026-11-10).
"""

from __future__ import annotations

import datetime as dt
import importlib.util
import json
from pathlib import Path

import pytest
import sqlalchemy as sa
from creditflow.core import warehouse as wh
from creditflow.reports import build, figures, snapshots, store
from creditflow.reports.periods import month

ROOT = Path(__file__).resolve().parents[2]
PERIOD = "2026-10"


def _fill() -> object:
    spec = importlib.util.spec_from_file_location("bench_reports", ROOT / "bench" / "reports.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.fill


@pytest.fixture(scope="module")
def engine(tmp_path_factory):
    path = tmp_path_factory.mktemp("snapshots") / "wh.sqlite"
    _fill()(path, 3650)  # type: ignore[operator]
    return wh.engine_from_url(f"sqlite:///{path}")


@pytest.fixture(scope="module")
def fresh(engine, tmp_path_factory):
    """The report computed with no snapshot at all, and its files."""
    _clear(engine)
    report = build.compute(engine, "monthly", PERIOD)
    files = store.write_files(report, tmp_path_factory.mktemp("fresh"))
    _clear(engine)
    return report, {k: files[k].read_bytes() for k in ("summary", "pdf")}


def _clear(engine: sa.Engine) -> None:
    with engine.begin() as conn:
        conn.execute(wh.report_snapshots.delete())


def _rows(engine: sa.Engine) -> list[dict]:
    with engine.connect() as conn:
        return [dict(r._mapping) for r in conn.execute(sa.select(wh.report_snapshots))]


def _counting(monkeypatch) -> list[str]:
    """Patch figures.records_of to note each period computed."""
    seen: list[str] = []
    real = figures.records_of

    def records_of(facts, period, cut_off, payloads=None):
        seen.append(period.label)
        return real(facts, period, cut_off, payloads)

    monkeypatch.setattr(figures, "records_of", records_of)
    return seen


def _tamper(engine: sa.Engine, period: str, decisions: int) -> None:
    t = wh.report_snapshots
    with engine.begin() as conn:
        for row in conn.execute(sa.select(t).where(t.c.period == period)).all():
            head = json.loads(row.figures)
            head["decisions"] = decisions
            conn.execute(t.update().where(t.c.period == row.period, t.c.cut_off == row.cut_off,
                                          t.c.fingerprint == row.fingerprint)
                         .values(figures=json.dumps(head, ensure_ascii=False, sort_keys=True)))


def test_report_with_snapshots_is_byte_identical_to_the_fresh_one(engine, fresh, tmp_path, monkeypatch):
    report, fresh_files = fresh
    seen = _counting(monkeypatch)
    cold = build.compute(engine, "monthly", PERIOD)  # empty table: computes all, stores the closed periods
    assert sorted(seen) == sorted({month(PERIOD).shifted(-i).label for i in range(13)})
    stored = {r["period"] for r in _rows(engine)}
    assert stored == {month(PERIOD).shifted(-i).label for i in range(13)}  # 12 closed + the current one
    seen.clear()
    warm = build.compute(engine, "monthly", PERIOD)
    assert seen == [PERIOD]  # only the current period computed; the 12 others read back
    assert build.dumps(cold) == build.dumps(warm) == build.dumps(report)
    files = store.write_files(warm, tmp_path)
    assert {k: files[k].read_bytes() for k in ("summary", "pdf")} == fresh_files
    assert warm["trend"][0]["decisions"] > 0 and warm["comparison"]["rows"][0]["previous"] > 0


def test_snapshots_are_read_and_a_changed_fingerprint_ignores_them(engine, fresh, tmp_path, monkeypatch):
    report, _ = fresh
    build.compute(engine, "monthly", PERIOD)
    _tamper(engine, "2026-09", -7)
    tampered = build.compute(engine, "monthly", PERIOD)
    assert tampered["trend"][-2]["decisions"] == -7  # the snapshot is what the report shows
    assert tampered["comparison"]["rows"][0]["previous"] == -7
    # a rules change: another calendar directory with one more file → another fingerprint
    extra = tmp_path / "calendar"
    extra.mkdir()
    (extra / "2099.yaml").write_text("# a change of the rule data\n", encoding="utf-8")
    before = snapshots.fingerprint()
    monkeypatch.setenv("CREDITFLOW_CALENDAR_DIR", str(extra))
    assert snapshots.fingerprint() != before
    seen = _counting(monkeypatch)
    again = build.compute(engine, "monthly", PERIOD)
    assert build.dumps(again) == build.dumps(report)  # the tampered snapshot ignored
    assert len(seen) == 13
    monkeypatch.delenv("CREDITFLOW_CALENDAR_DIR")
    monkeypatch.setattr(snapshots, "FIGURES_VERSION", "changed")  # a code change: the same
    assert build.dumps(build.compute(engine, "monthly", PERIOD)) == build.dumps(report)
    _clear(engine)


def test_a_backfilled_day_makes_its_period_computed_again(engine, fresh):
    _clear(engine)
    build.compute(engine, "monthly", PERIOD)
    _tamper(engine, "2026-09", -7)
    s = wh.run_summary
    key = "sgs_penalty|2026-09-15"
    with engine.begin() as conn:  # the day re-run after the cut-off: its summary rewritten, now
        old = conn.execute(sa.select(s.c.written_at).where(s.c.run_key == key)).scalar_one()
        conn.execute(s.update().where(s.c.run_key == key).values(written_at="2026-11-20T01:00:00+00:00"))
    try:
        with_snapshots = build.compute(engine, "monthly", PERIOD)
        _clear(engine)
        fresh_now = build.compute(engine, "monthly", PERIOD)
        assert build.dumps(with_snapshots) == build.dumps(fresh_now)
        assert with_snapshots["trend"][-2]["decisions"] != -7
        assert with_snapshots["trend"][-2]["decisions"] < fresh[0]["trend"][-2]["decisions"]  # the run left out
    finally:
        with engine.begin() as conn:
            conn.execute(s.update().where(s.c.run_key == key).values(written_at=old))
        _clear(engine)


def test_a_period_not_closed_when_read_is_never_stored(engine, fresh, monkeypatch):
    _clear(engine)
    cut = month(PERIOD).default_cut_off()
    monkeypatch.setattr(snapshots, "now", lambda: cut + snapshots.SETTLE - dt.timedelta(minutes=1))
    report = build.compute(engine, "monthly", PERIOD)
    assert build.dumps(report) == build.dumps(fresh[0])
    stored = {r["period"] for r in _rows(engine)}
    assert PERIOD not in stored and "2026-09" in stored  # October not settled yet; September long closed
    monkeypatch.setattr(snapshots, "now", lambda: dt.datetime(2026, 10, 20, tzinfo=dt.UTC))
    _clear(engine)
    mid = build.compute(engine, "monthly", PERIOD, dt.date(2026, 10, 25))  # a cut-off after "now"
    stored = {(r["period"], r["cut_off"]) for r in _rows(engine)}
    assert all(c < "2026-10-20" for _, c in stored) and PERIOD not in {p for p, _ in stored}
    monkeypatch.setattr(snapshots, "now", lambda: dt.datetime(2026, 11, 28, tzinfo=dt.UTC))
    assert build.dumps(build.compute(engine, "monthly", PERIOD, dt.date(2026, 10, 25))) == build.dumps(mid)
    _clear(engine)


def test_a_snapshot_is_used_only_when_the_window_and_the_runs_agree():
    runs = [["2025-11-01", "a|2025-11-01", "penalty", "t1"], ["2025-12-01", "a|2025-12-01", "penalty", "t2"]]
    inputs = {"window_start": "2025-11-01", "earliest_day": "2025-12-01", "earliest_at": "2025-12-01T10:00:00+00:00",
              "runs": runs}
    since = "2025-11-30T16:00:00+00:00"
    assert snapshots.usable(inputs, dt.date(2025, 11, 1), runs, "2025-10-31T16:00:00+00:00")
    assert snapshots.usable(inputs, dt.date(2025, 12, 1), runs[1:], since)  # a later window: same rows
    assert not snapshots.usable(inputs, dt.date(2025, 10, 1), runs, since)  # an earlier window saw more
    assert not snapshots.usable({**inputs, "earliest_day": "2025-11-02"}, dt.date(2025, 12, 1), runs[1:], since)
    assert not snapshots.usable({**inputs, "earliest_at": "2025-11-20T00:00:00+00:00"}, dt.date(2025, 12, 1),
                                runs[1:], since)
    rerun = [runs[0], ["2025-12-01", "a|2025-12-01", "penalty", "t9"]]
    assert not snapshots.usable(inputs, dt.date(2025, 11, 1), rerun, "2025-10-31T16:00:00+00:00")


def _loads(monkeypatch) -> list[tuple[dt.date, dt.date]]:
    """Patch facts.load (as build uses it) to note each window read."""
    from creditflow.reports import facts

    windows: list[tuple[dt.date, dt.date]] = []
    real = facts.load

    def load(engine, window, cut_off, kinds=("penalty", "license", "coercion")):
        windows.append(window)
        return real(engine, window, cut_off, kinds)

    monkeypatch.setattr(facts, "load", load)
    return windows


def test_with_all_snapshots_only_the_current_period_is_read(engine, fresh, tmp_path, monkeypatch):
    _clear(engine)
    p = month(PERIOD)
    windows = _loads(monkeypatch)
    build.compute(engine, "monthly", PERIOD)
    assert windows == [(p.shifted(-12).start, p.end)]  # cold: the whole window
    windows.clear()
    warm = build.compute(engine, "monthly", PERIOD)
    assert windows == [(p.start, p.end)]  # warm: the month alone, proven the same
    assert build.dumps(warm) == build.dumps(fresh[0])
    assert sum(b["count"] for b in warm["backlog_by_age"]) > warm["headline"]["not_published"]["quarantined"]
    _clear(engine)


def _fresh_and_warm(engine: sa.Engine, monkeypatch) -> tuple[dict, dict, list]:
    _clear(engine)
    fresh_now = build.compute(engine, "monthly", PERIOD)  # computes and stores
    windows = _loads(monkeypatch)
    warm = build.compute(engine, "monthly", PERIOD)
    _clear(engine)
    return fresh_now, warm, windows


def test_a_record_seen_before_the_period_makes_the_report_read_the_whole_window(engine, monkeypatch):
    std = wh.standardised
    with engine.connect() as conn:
        rid = conn.execute(sa.select(std.c.record_id).where(std.c.run_key == "sgs_license|2026-09-20")
                           .limit(1)).scalar_one()
    key = {"run_key": "sgs_license|2026-09-20", "record_id": rid}
    with engine.begin() as conn:
        old = conn.execute(sa.select(std.c.decision_date).where(std.c.run_key == key["run_key"],
                                                                std.c.record_id == key["record_id"])).scalar_one()
        conn.execute(std.update().where(std.c.run_key == key["run_key"], std.c.record_id == key["record_id"])
                     .values(decision_date="2026-10-03"))  # extracted in September, dated October
    try:
        fresh_now, warm, windows = _fresh_and_warm(engine, monkeypatch)
        p = month(PERIOD)
        assert windows == [(p.start, p.end), (p.shifted(-12).start, p.end)]  # tried alone, then the whole
        assert build.dumps(warm) == build.dumps(fresh_now)
    finally:
        with engine.begin() as conn:
            conn.execute(std.update().where(std.c.run_key == key["run_key"], std.c.record_id == key["record_id"])
                         .values(decision_date=old))


def test_history_before_the_period_of_a_key_it_counts_makes_it_read_the_whole_window(engine, monkeypatch):
    h, o = wh.ledger_history, wh.outcomes
    with engine.connect() as conn:
        rid, nk = conn.execute(sa.select(o.c.record_id, o.c.natural_key).where(
            o.c.run_key == "sgs_penalty|2026-10-05", o.c.outcome == "uploaded").limit(1)).one()
    row = {"kind": "penalty", "natural_key": nk, "record_id": rid, "op": "create", "state": "sent",
           "run_key": "sgs_penalty|2026-09-28", "at": "2026-09-29T01:00:00+00:00"}
    with engine.begin() as conn:
        conn.execute(h.insert().values(**row))
    try:
        fresh_now, warm, windows = _fresh_and_warm(engine, monkeypatch)
        assert len(windows) == 2
        assert build.dumps(warm) == build.dumps(fresh_now)
    finally:
        with engine.begin() as conn:
            conn.execute(h.delete().where(h.c.natural_key == nk, h.c.run_key == row["run_key"]))


def test_rejection_messages_are_the_whole_windows_when_only_the_period_is_read(engine, monkeypatch):
    h, o, f = wh.ledger_history, wh.outcomes, wh.findings
    with engine.connect() as conn:
        rid, nk = conn.execute(sa.select(o.c.record_id, o.c.natural_key).where(
            o.c.run_key == "sgs_penalty|2026-10-05", o.c.outcome == "uploaded").limit(1)).one()
        early = conn.execute(sa.select(o.c.record_id).where(o.c.run_key == "sgs_penalty|2026-03-03").limit(1)).scalar_one()
    finding = {"field": "*", "rule_id": "PLATFORM_REJECTED", "kind": "penalty", "severity": "error", "message_zh": "退回"}
    with engine.begin() as conn:
        conn.execute(h.insert().values(kind="penalty", natural_key=nk, record_id=rid, op="create", state="rejected",
                                       code="E102", run_key="sgs_penalty|2026-10-05", at="2026-10-06T22:30:00+00:00"))
        conn.execute(f.insert().values(run_key="sgs_penalty|2026-03-03", record_id=early, detail="E102 早期说明",
                                       **finding))
        conn.execute(f.insert().values(run_key="sgs_penalty|2026-10-05", record_id=rid, detail="E102 本期说明",
                                       **finding))
    try:
        fresh_now, warm, windows = _fresh_and_warm(engine, monkeypatch)
        assert windows == [(month(PERIOD).start, month(PERIOD).end)]
        assert build.dumps(warm) == build.dumps(fresh_now)
        assert [r["平台说明"] for r in warm["rejections"]] == ["早期说明"]
    finally:
        with engine.begin() as conn:
            conn.execute(h.delete().where(h.c.natural_key == nk, h.c.state == "rejected"))
            conn.execute(f.delete().where(f.c.rule_id == "PLATFORM_REJECTED"))


def test_two_reports_storing_the_same_snapshot_at_once_both_succeed(db_url):
    """The monthly DAG and an operator's CLI run may close the same period at the same moment: every write
    succeeds and one row stands (on PostgreSQL a delete-then-insert let the second fail on the key)."""
    import threading

    engine = wh.engine_from_url(db_url)
    wh.create_schema(engine)
    p, cut = month(PERIOD), dt.datetime(2026, 11, 10, tzinfo=dt.UTC)
    start, errors = threading.Barrier(8), []

    def writer(n: int) -> None:
        start.wait()
        for i in range(5):
            try:
                snapshots.write(engine, "monthly", p, cut, ("penalty",), "fp", {"n": n}, {"i": i})
            except Exception as exc:  # any failure is the defect
                errors.append(exc)

    threads = [threading.Thread(target=writer, args=(n,)) for n in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    inputs, figures_ = snapshots.read(engine, "monthly", p, cut, ("penalty",), "fp")
    assert inputs["n"] in range(8) and figures_ == {"i": 4}
    with engine.connect() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(wh.report_snapshots)).scalar() == 1
    engine.dispose()


def test_an_edit_of_the_code_that_computes_figures_is_a_new_fingerprint(tmp_path, monkeypatch):
    """Nobody has to remember FIGURES_VERSION: a copy of the package whose figures.py differs by one line
    fingerprints differently, so stored periods are computed again after such a release."""
    import shutil

    package = Path(snapshots.__file__).resolve().parents[1]  # creditflow: reports/ and the core rules it calls
    copy = tmp_path / "creditflow"
    shutil.copytree(package, copy, ignore=shutil.ignore_patterns("__pycache__"))
    monkeypatch.setattr(snapshots, "__file__", str(copy / "reports" / "snapshots.py"))
    same = snapshots.fingerprint()
    monkeypatch.setattr(snapshots, "__file__", str(package / "reports" / "snapshots.py"))
    assert same == snapshots.fingerprint()  # a faithful copy: the same code, the same fingerprint
    for name in snapshots.FIGURE_MODULES:
        with (copy / name).open("a", encoding="utf-8") as f:
            f.write("\n# changed\n")
        monkeypatch.setattr(snapshots, "__file__", str(copy / "reports" / "snapshots.py"))
        assert snapshots.fingerprint() != same, name
        same = snapshots.fingerprint()
