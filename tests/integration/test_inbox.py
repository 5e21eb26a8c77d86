"""District inbox: each kind claims only its own folder and only the files that had arrived before the
run's scheduled start; unreadable files are rejected once with a reason; an I/O error is retried, never
blamed on the district; a re-run of the interval sees exactly what the first attempt saw."""

from __future__ import annotations

import datetime as dt
import os
import shutil

import pytest
import sqlalchemy as sa
from creditflow.core import warehouse as wh
from creditflow.reporting import pipeline as sgs
from creditflow.reporting import submissions
from creditflow_sandbox import generator as g
from helpers import TZ, deliver, run_for, warehouse

DAY = dt.date(2026, 11, 2)


def _set_arrival(path, when: dt.datetime) -> None:
    os.utime(path, (when.timestamp(), when.timestamp()))


@pytest.fixture
def generated(tmp_path):
    drop = tmp_path / "drop"
    g.generate_to(g.GeneratorConfig(seed=4, decisions=200, start=DAY, days=3, corrupt_file_share=0.3), inbox=drop)
    return drop


def _staged(engine) -> list[str]:
    with engine.connect() as conn:
        return sorted(r[0] for r in conn.execute(sa.select(wh.staging.c.record_id)))


def test_rerun_of_an_interval_sees_the_same_files(tmp_path, db_url, generated):
    inbox = tmp_path / "inbox"
    last = DAY + dt.timedelta(days=2)
    delivered = deliver(generated, inbox, last)
    assert delivered
    engine = warehouse(db_url)
    run = run_for(last, "penalty")  # a catch-up: everything had arrived before this run's start
    first = sgs.extract(run, engine, sgs.Sources(inbox=inbox))
    assert first["rejected_files"] >= 1 and first["district_file"] > 0
    assert not [p for p in (inbox / "penalty").iterdir() if p.is_file()]  # every file claimed
    reasons = list((inbox / "rejected" / "penalty" / last.isoformat()).glob("*.reason.txt"))
    assert reasons and all("损坏" in r.read_text(encoding="utf-8") or "无法" in r.read_text(encoding="utf-8")
                           for r in reasons)
    staged_first = _staged(engine)
    again = sgs.extract(run, engine, sgs.Sources(inbox=inbox))
    assert again == first
    assert _staged(engine) == staged_first


def test_each_kind_claims_only_its_own_folder_and_rejects_once(tmp_path, db_url, generated):
    inbox = tmp_path / "inbox"
    deliver(generated, inbox, DAY)
    # A broken file and a penalty spreadsheet dropped into the licence folder.
    (inbox / "license").mkdir(parents=True)
    broken = inbox / "license" / "440402_香洲区_20261102_bad.xlsx"
    broken.write_bytes(b"PK\x03\x04 not a workbook")
    readable = next(p for p in sorted((inbox / "penalty").iterdir()) if p.suffix == ".csv"
                    and b"PK" not in p.read_bytes()[:4])
    wrong = inbox / "license" / readable.name
    shutil.copy2(readable, wrong)
    arrival = dt.datetime.combine(DAY, dt.time(10), TZ)
    _set_arrival(broken, arrival)
    _set_arrival(wrong, arrival)
    engine = warehouse(db_url)
    penalty_files = sorted(p.name for p in (inbox / "penalty").iterdir())

    lic = sgs.extract(run_for(DAY, "license"), engine, sgs.Sources(inbox=inbox))
    coe = sgs.extract(run_for(DAY, "coercion"), engine, sgs.Sources(inbox=inbox))
    assert lic["rejected_files"] == 2 and coe["rejected_files"] == 0
    assert sorted(p.name for p in (inbox / "penalty").iterdir()) == penalty_files  # untouched by other kinds
    reason = (inbox / "rejected" / "license" / DAY.isoformat() / f"{wrong.name}.reason.txt").read_text("utf-8")
    assert "行政处罚" in reason and "不是行政许可" in reason
    pen = sgs.extract(run_for(DAY, "penalty"), engine, sgs.Sources(inbox=inbox))
    with engine.connect() as conn:
        files = conn.execute(sa.select(wh.source_files.c.file_name, wh.source_files.c.status,
                                       wh.source_files.c.run_key)).all()
    rejected = [f for f in files if f.status == "rejected"]
    assert len([f for f in rejected if f.file_name == broken.name]) == 1  # counted once, by its own kind
    assert all("license" in f.run_key for f in rejected if f.file_name in (broken.name, wrong.name))
    assert pen["rejected_files"] == sum(1 for f in rejected if "penalty" in f.run_key)


def test_only_files_that_arrived_before_the_scheduled_start_are_claimed(tmp_path, db_url):
    inbox = tmp_path / "inbox"
    drop = tmp_path / "drop"
    g.generate_to(g.GeneratorConfig(seed=5, decisions=120, start=DAY, days=2), inbox=drop)
    deliver(drop, inbox, DAY + dt.timedelta(days=3))
    files = sorted((inbox / "penalty").iterdir())
    assert len(files) >= 3
    early, late = files[0], files[1]
    run = run_for(DAY, "penalty")
    _set_arrival(early, run.scheduled_start - dt.timedelta(minutes=1))  # 05:59 the next morning
    _set_arrival(late, run.scheduled_start + dt.timedelta(minutes=1))   # 06:01: the next day's run
    for other in files[2:]:
        _set_arrival(other, run.scheduled_start + dt.timedelta(days=5))
    engine = warehouse(db_url)
    first = sgs.extract(run, engine, sgs.Sources(inbox=inbox))
    assert first["district_file"] > 0
    assert not early.exists() and late.exists()
    nxt = run_for(DAY + dt.timedelta(days=1), "penalty")
    sgs.extract(nxt, engine, sgs.Sources(inbox=inbox))
    assert not late.exists()
    assert (inbox / "archive" / "penalty" / (DAY + dt.timedelta(days=1)).isoformat() / late.name).exists()
    # A catch-up long after: the re-run of the first day still sees only its own file.
    assert sgs.extract(run, engine, sgs.Sources(inbox=inbox)) == first


def test_transient_io_error_is_retried_not_rejected(tmp_path, db_url, generated, monkeypatch):
    inbox = tmp_path / "inbox"
    deliver(generated, inbox, DAY)
    victim = next(p for p in sorted((inbox / "penalty").iterdir()) if p.suffix == ".csv"
                  and b"PK" not in p.read_bytes()[:4])
    real = submissions._read_table

    def flaky(path):
        if path.name == victim.name:
            raise OSError(5, "Input/output error")
        return real(path)

    monkeypatch.setattr(submissions, "_read_table", flaky)
    engine = warehouse(db_url)
    run = run_for(DAY, "penalty")
    with pytest.raises(sgs.InboxTransientError, match="重试"):
        sgs.extract(run, engine, sgs.Sources(inbox=inbox))
    assert victim.exists()  # not rejected, still waiting
    assert not (inbox / "rejected" / "penalty" / DAY.isoformat() / f"{victim.name}.reason.txt").exists()
    monkeypatch.setattr(submissions, "_read_table", real)  # the share is back: Airflow's retry succeeds
    ok = sgs.extract(run, engine, sgs.Sources(inbox=inbox))
    assert not victim.exists()
    with engine.connect() as conn:
        lineages = [r[0] for r in conn.execute(sa.select(wh.staging.c.lineage))]
    assert any(x.startswith(victim.name) for x in lineages) and ok["district_file"] > 0


def _to_object_storage(local_inbox, store) -> dict[str, dt.datetime]:
    """Upload a delivered inbox into ``store`` keeping each file's arrival time (object storage reports the
    upload time as the file's modification time; the memory filesystem lets a test set it)."""
    arrivals = {}
    for p in sorted(x for x in local_inbox.rglob("*") if x.is_file()):
        key = p.relative_to(local_inbox).as_posix()
        store.write_bytes(key, p.read_bytes())
        arrivals[key] = dt.datetime.fromtimestamp(p.stat().st_mtime, dt.UTC)
        store.fs.store[store._path(key)].modified = arrivals[key]
    return arrivals


def test_inbox_in_object_storage_memory(tmp_path, db_url, generated, monkeypatch):
    """The same inbox behind fsspec's memory:// filesystem: nothing assumes a local folder."""
    import uuid

    from creditflow.core.storage import Storage

    local = tmp_path / "local"
    last = DAY + dt.timedelta(days=2)
    assert deliver(generated, local, last)
    store = Storage.from_url(f"memory://creditflow-{uuid.uuid4().hex[:8]}/inbox")
    arrivals = _to_object_storage(local, store)
    run = run_for(DAY, "penalty")
    early = [k for k, t in arrivals.items() if k.startswith("penalty/") and t < run.scheduled_start]
    late = [k for k, t in arrivals.items() if k.startswith("penalty/") and t >= run.scheduled_start]
    assert early and late
    victim = early[0]
    real_get = store.fs.get_file

    def unreachable(rpath, lpath, **kw):
        if rpath.endswith(victim):
            raise ConnectionError("connection reset by peer")  # an OSError: the bucket, not the file
        return real_get(rpath, lpath, **kw)

    engine = warehouse(db_url)
    monkeypatch.setattr(store.fs, "get_file", unreachable)
    with pytest.raises(sgs.InboxTransientError, match="重试"):
        sgs.extract(run, engine, sgs.Sources(inbox=store))
    assert store.exists(victim)  # still waiting, not rejected
    monkeypatch.setattr(store.fs, "get_file", real_get)

    first = sgs.extract(run, engine, sgs.Sources(inbox=store))
    assert first["district_file"] > 0
    assert all(not store.exists(k) for k in early) and all(store.exists(k) for k in late)
    archived = [e.name for e in store.list_files(f"archive/penalty/{DAY.isoformat()}")]
    rejected = [e.name for e in store.list_files(f"rejected/penalty/{DAY.isoformat()}")]
    assert sorted(archived + [n for n in rejected if not n.endswith(".reason.txt")]) == \
        sorted(k.rsplit("/", 1)[1] for k in early)
    assert all(f"{n}.reason.txt" in rejected for n in rejected if not n.endswith(".reason.txt"))
    with engine.connect() as conn:
        where = [r[0] for r in conn.execute(sa.select(wh.source_files.c.archived_as))]
    assert where and all(w.startswith(store.url + "/") for w in where)
    assert not (tmp_path / "inbox").exists()  # nothing was written to a local folder
    assert sgs.extract(run, engine, sgs.Sources(inbox=store)) == first  # a re-run sees the same files


def test_inbox_as_a_file_url(tmp_path, db_url, generated):
    from creditflow.core.storage import Storage

    inbox = tmp_path / "inbox"
    deliver(generated, inbox, DAY)
    engine = warehouse(db_url)
    run = run_for(DAY, "penalty")
    via_url = sgs.extract(run, engine, sgs.Sources(inbox=Storage.from_url(f"file://{inbox}")))
    assert via_url["district_file"] > 0
    assert not [p for p in (inbox / "penalty").iterdir() if p.is_file()]
    assert sgs.extract(run, engine, sgs.Sources(inbox=inbox)) == via_url  # the Path the DAG passes: the same
