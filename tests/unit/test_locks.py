"""The database lock that replaces file locks across workers: separate processes contend for it, the
second waits until the first lets go, a dead holder releases it, a timeout is honoured. On SQLite always,
on PostgreSQL when CREDITFLOW_TEST_DATABASE_URL is set (CI)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest
from creditflow.core import warehouse as wh
from creditflow.core.locks import LockTimeout, db_lock, lock_key

HOLDER = """
import sys, time
from creditflow.core import warehouse as wh
from creditflow.core.locks import db_lock
url, name, marker, hold = sys.argv[1], sys.argv[2], sys.argv[3], float(sys.argv[4])
engine = wh.engine_from_url(url)
with db_lock(engine, name):
    open(marker + ".acquired", "w").write(repr(time.time()))
    time.sleep(hold)
    open(marker + ".released", "w").write(repr(time.time()))
"""


def _db_urls() -> list:
    return ["sqlite", pytest.param("postgresql", marks=pytest.mark.skipif(
        not os.environ.get("CREDITFLOW_TEST_DATABASE_URL"), reason="CREDITFLOW_TEST_DATABASE_URL not set"))]


@pytest.fixture(params=_db_urls())
def url(request, tmp_path):
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'wh.sqlite'}"
    return os.environ["CREDITFLOW_TEST_DATABASE_URL"]


def _start(url: str, name: str, marker: Path, hold: float) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-c", HOLDER, url, name, str(marker), str(hold)])


def _wait_for(path: Path, proc: subprocess.Popen, limit: float = 30) -> float:
    end = time.monotonic() + limit
    while not path.exists():
        assert proc.poll() is None or path.exists(), f"process ended ({proc.returncode}) without {path.name}"
        assert time.monotonic() < end, f"no {path.name} within {limit}s"
        time.sleep(0.02)
    time.sleep(0.02)
    return float(path.read_text())


def test_a_second_process_waits_for_the_first(url, tmp_path):
    name = f"gx:penalty:{uuid.uuid4().hex}"
    first = _start(url, name, tmp_path / "first", hold=1.5)
    _wait_for(tmp_path / "first.acquired", first)
    second = _start(url, name, tmp_path / "second", hold=0)
    second_acquired = _wait_for(tmp_path / "second.acquired", second)
    first_released = _wait_for(tmp_path / "first.released", first)
    assert second_acquired >= first_released  # it waited: never both inside at once
    assert first.wait(30) == 0 and second.wait(30) == 0


def test_a_killed_holder_releases_the_lock(url, tmp_path):
    name = f"gx:license:{uuid.uuid4().hex}"
    holder = _start(url, name, tmp_path / "holder", hold=120)
    _wait_for(tmp_path / "holder.acquired", holder)
    engine = wh.engine_from_url(url)
    with pytest.raises(LockTimeout), db_lock(engine, name, timeout=0.5):
        pass
    os.kill(holder.pid, signal.SIGKILL)  # the worker dies mid-write: no one is left to unlock
    holder.wait(30)
    with db_lock(engine, name, timeout=20):
        pass
    assert not (tmp_path / "holder.released").exists()
    engine.dispose()


def test_lock_work_commits_on_the_yielded_connection_and_rolls_back_on_error(url, tmp_path):
    import sqlalchemy as sa

    engine = wh.engine_from_url(url)
    table = f"t_lock_{uuid.uuid4().hex[:8]}"
    with engine.begin() as conn:
        conn.exec_driver_sql(f"CREATE TABLE {table} (n INTEGER)")
    try:
        with db_lock(engine, table) as conn:
            conn.execute(sa.text(f"INSERT INTO {table} VALUES (1)"))
        with pytest.raises(RuntimeError), db_lock(engine, table) as conn:
            conn.execute(sa.text(f"INSERT INTO {table} VALUES (2)"))
            raise RuntimeError("boom")
        with engine.connect() as conn:
            assert [r[0] for r in conn.execute(sa.text(f"SELECT n FROM {table}"))] == [1]
        with db_lock(engine, table, timeout=1):  # released after the error too
            pass
    finally:
        with engine.begin() as conn:
            conn.exec_driver_sql(f"DROP TABLE {table}")
        engine.dispose()


@pytest.mark.skipif(not os.environ.get("CREDITFLOW_TEST_DATABASE_URL"), reason="PostgreSQL only")
def test_on_postgresql_other_names_do_not_wait(tmp_path):
    url = os.environ["CREDITFLOW_TEST_DATABASE_URL"]
    name = f"gx:coercion:{uuid.uuid4().hex}"
    holder = _start(url, name, tmp_path / "holder", hold=60)
    try:
        _wait_for(tmp_path / "holder.acquired", holder)
        engine = wh.engine_from_url(url)
        with db_lock(engine, name + ":other", timeout=2):
            pass
        with pytest.raises(LockTimeout), db_lock(engine, name, timeout=0.3):
            pass
        engine.dispose()
    finally:
        holder.kill()
        holder.wait(30)


def test_lock_keys_are_stable_64_bit():
    assert lock_key("gx:penalty") == lock_key("gx:penalty") != lock_key("gx:license")
    assert -(2**63) <= lock_key("gx:penalty") < 2**63


def test_unsupported_dialect_is_refused():
    from types import SimpleNamespace

    engine = SimpleNamespace(dialect=SimpleNamespace(name="mysql"))  # never connects
    with pytest.raises(NotImplementedError), db_lock(engine, "x"):  # type: ignore[arg-type]
        pass


WORK_HOLDER = HOLDER.replace("import db_lock", "import work_lock").replace("with db_lock(", "with work_lock(")


def test_work_lock_makes_a_second_process_wait_but_lets_the_database_be_written(url, tmp_path):
    """The interval lock: a second run of the same interval waits (SQLite: a file lock beside the database;
    PostgreSQL: the advisory lock), while the holder's work — and anyone else — still writes the warehouse
    through other connections; another interval's lock is free."""
    import sqlalchemy as sa
    from creditflow.core.locks import work_lock

    name = f"interval:sgs_penalty|{uuid.uuid4().hex}"
    first = subprocess.Popen([sys.executable, "-c", WORK_HOLDER, url, name, str(tmp_path / "first"), "1.5"])
    _wait_for(tmp_path / "first.acquired", first)
    engine = wh.engine_from_url(url)
    table = f"t_{uuid.uuid4().hex[:8]}"
    with engine.begin() as conn:  # not blocked by the held work lock
        conn.execute(sa.text(f"CREATE TABLE {table} (x INTEGER)"))
        conn.execute(sa.text(f"INSERT INTO {table} VALUES (1)"))
    t0 = time.monotonic()
    with work_lock(engine, name + "-other"):
        assert time.monotonic() - t0 < 1.0  # another interval does not wait
    second = subprocess.Popen([sys.executable, "-c", WORK_HOLDER, url, name, str(tmp_path / "second"), "0"])
    second_acquired = _wait_for(tmp_path / "second.acquired", second)
    assert second_acquired >= _wait_for(tmp_path / "first.released", first)
    assert first.wait(30) == 0 and second.wait(30) == 0
    with engine.begin() as conn:
        conn.execute(sa.text(f"DROP TABLE {table}"))
    engine.dispose()


def test_work_lock_times_out_and_finds_the_file_of_any_sqlite_url(tmp_path):
    import sqlalchemy as sa
    from creditflow.core.locks import _sqlite_file, work_lock

    db = tmp_path / "wh.sqlite"
    assert _sqlite_file(sa.create_engine(f"sqlite:///{db}")) == str(db)
    assert _sqlite_file(sa.create_engine(f"sqlite:///file:{db}?uri=true")) == str(db)
    assert _sqlite_file(sa.create_engine("sqlite:///file:mem1?mode=memory&cache=shared&uri=true")) is None
    assert _sqlite_file(sa.create_engine("sqlite://")) is None
    engine = sa.create_engine(f"sqlite:///{db}")
    with work_lock(engine, "interval:x"):
        t0 = time.monotonic()
        with pytest.raises(LockTimeout, match="interval:x"), work_lock(engine, "interval:x", timeout=0.3):
            pass
        assert 0.25 <= time.monotonic() - t0 < 3
        with work_lock(engine, "interval:y", timeout=0.3):  # another name is free
            pass
    with work_lock(engine, "interval:x", timeout=0.3):  # released
        pass


def test_work_lock_files_do_not_pile_up_and_a_killed_holders_file_is_taken_over(tmp_path):
    """One lock file per interval used to stay forever (thousands a year); it is removed when the work ends.
    A holder killed mid-work leaves its file; the OS released its lock, so the next run takes it, and removes
    it when done."""
    import sqlalchemy as sa
    from creditflow.core.locks import work_lock

    db = tmp_path / "wh.sqlite"
    url = f"sqlite:///{db}"
    engine = sa.create_engine(url)
    folder = tmp_path / "wh.sqlite.locks"
    with work_lock(engine, "interval:a", timeout=1):
        assert len(list(folder.glob("*.lock"))) == 1
    assert list(folder.glob("*.lock")) == []
    holder = subprocess.Popen([sys.executable, "-c", WORK_HOLDER, url, "interval:b", str(tmp_path / "h"), "120"])
    _wait_for(tmp_path / "h.acquired", holder)
    with pytest.raises(LockTimeout), work_lock(engine, "interval:b", timeout=0.3):
        pass
    os.kill(holder.pid, signal.SIGKILL)
    holder.wait(30)
    assert len(list(folder.glob("*.lock"))) == 1  # the dead holder's
    with work_lock(engine, "interval:b", timeout=20):
        pass
    assert list(folder.glob("*.lock")) == []


CHURN = """
import os, sys, time
import sqlalchemy as sa
from creditflow.core.locks import work_lock
url, marker, rounds = sys.argv[1], sys.argv[2], int(sys.argv[3])
engine = sa.create_engine(url)
for _ in range(rounds):
    with work_lock(engine, "interval:churn", timeout=60):
        fd = os.open(marker, os.O_CREAT | os.O_EXCL | os.O_WRONLY)  # fails if another holder is inside
        time.sleep(0.002)
        os.close(fd)
        os.unlink(marker)
"""


def test_removing_the_lock_file_never_lets_two_holders_in(tmp_path):
    """Each holder removes the file as it finishes while others wait on it: a waiter that opened the removed
    file must not hold the lock at the same time as one that created the new file."""
    url = f"sqlite:///{tmp_path / 'wh.sqlite'}"
    procs = [subprocess.Popen([sys.executable, "-c", CHURN, url, str(tmp_path / "inside"), "40"],
                              stderr=subprocess.PIPE) for _ in range(3)]
    for p in procs:
        _, err = p.communicate(timeout=120)
        assert p.returncode == 0, err.decode()[-500:]
