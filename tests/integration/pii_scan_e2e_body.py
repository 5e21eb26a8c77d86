"""The auditor's check of #19 §3 on the real pipeline: Airflow runs the 双公示 DAGs (``dag.test()``, through
AIRFLOW_CONN_* connections as the scheduler wires them) for three days of generated data with natural persons
among the parties; then ``creditflow audit pii-scan`` looks through the warehouse (its SQLite bytes with the
-wal/-shm files, or ``pg_dump`` of it) and the Airflow home (the metadata database — XCom, rendered fields,
DAG run conf, asset events, log table — and every log file) for the manifest's ID numbers and names.

Run by ``test_pii_scan_e2e.py`` in a pytest process of its own: a fresh Airflow home and metadata database
(tests/conftest.py makes one per process), so that what other tests put there on purpose — test_notifiers
pushes a clear ID number through XCom to prove the notifications mask it — is not taken for a leak of the
project's.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import io
import json
import logging
import os
import subprocess
import sys
from pathlib import Path

import pendulum
import pytest
import sqlalchemy as sa
from creditflow.audit import pii_scan as ps
from creditflow_sandbox import generator as g
from creditflow_sandbox import licensing, platform
from helpers import ServedApp, pipeline_env, warehouse

pytestmark = [pytest.mark.integration, pytest.mark.slow]
DAYS = [dt.date(2026, 11, 3), dt.date(2026, 11, 4), dt.date(2026, 11, 5)]
DAGS = ("sgs_penalty", "sgs_license", "sgs_coercion")


def _end_of(day: dt.date):
    nxt = day + dt.timedelta(days=1)
    return pendulum.datetime(nxt.year, nxt.month, nxt.day, tz="Asia/Shanghai")


class _Sink(io.TextIOBase):
    """Where ``sys.stdout``/``sys.stderr`` and a log handler write during a run: appended to the current task
    log by path, each write. Never a file descriptor of its own: a logger that kept a reference to it (structlog
    binds ``sys.stdout`` when it is first configured) must not write into whatever file later reuses that
    descriptor — the metadata database, once."""

    path: Path | None = None

    def writable(self) -> bool:
        return True

    def write(self, text: str) -> int:
        if self.path is None:
            return sys.__stderr__.write(text) if sys.__stderr__ else len(text)
        with open(self.path, "a", encoding="utf-8") as fh:
            return fh.write(text)


_SINK = _Sink()


@contextlib.contextmanager
def _task_log(path: Path):
    """Everything a ``dag.test()`` run writes — its task logs go to this process's output, not to files —
    into ``path`` under the Airflow home: file descriptors 1 and 2, ``sys.stdout``/``sys.stderr`` and every
    log record (creditflow's at DEBUG), as a task log file would hold them."""
    path.parent.mkdir(parents=True, exist_ok=True)
    sys.stdout.flush()
    sys.stderr.flush()
    saved = os.dup(1), os.dup(2)
    with open(path, "ab") as fh:   # fds 1 and 2 are pointed back below: nothing keeps this descriptor
        os.dup2(fh.fileno(), 1)
        os.dup2(fh.fileno(), 2)
    _SINK.path = path
    handler = logging.StreamHandler(_SINK)
    handler.setFormatter(logging.Formatter("%(asctime)s %(name)s %(levelname)s %(message)s"))
    root, ours = logging.getLogger(), [logging.getLogger(n) for n in ("creditflow", "creditflow_airflow")]
    levels = [lg.level for lg in ours]
    root.addHandler(handler)
    for lg in ours:
        lg.setLevel(logging.DEBUG)
    try:
        with contextlib.redirect_stdout(_SINK), contextlib.redirect_stderr(_SINK):
            yield
    finally:
        root.removeHandler(handler)
        for lg, level in zip(ours, levels, strict=True):
            lg.setLevel(level)
        _SINK.path = None
        os.dup2(saved[0], 1)
        os.dup2(saved[1], 2)
        os.close(saved[0])
        os.close(saved[1])


@pytest.fixture(scope="module")
def ran(tmp_path_factory, module_db_url, airflow_home):
    """Three days of the three reporting DAGs, run by Airflow; returns (warehouse URL, manifest path, home)."""
    from airflow.models import DagBag

    subprocess.run([sys.executable, "-m", "airflow", "db", "migrate"], check=True, capture_output=True,
                   env={**os.environ})
    d = tmp_path_factory.mktemp("pii")
    warehouse(module_db_url).dispose()
    # Many natural persons (a quarter of the parties) so that every path that carries one is exercised.
    cfg = g.GeneratorConfig(seed=19, decisions=90, start=DAYS[0], days=len(DAYS), person_share=0.25)
    g.generate_to(cfg, case_db_url=f"sqlite:///{d}/case.sqlite", licensing_db_url=f"sqlite:///{d}/l.sqlite",
                  inbox=d / "inbox", manifest=d / "m.jsonl")
    truth = ps.read_manifest_truth(d / "m.jsonl")
    assert len(truth.ids) >= 5 and len(truth.names) >= 5   # a test that cannot fail is a defect
    with ServedApp(platform.create_app(db_url=f"sqlite:///{d}/pf.sqlite", processing_seconds=0.05)) as pf, \
            ServedApp(licensing.create_app(db_url=f"sqlite:///{d}/l.sqlite")) as ls, pytest.MonkeyPatch.context() as mp:
        for name, value in pipeline_env(module_db_url, f"sqlite:///{d}/case.sqlite", pf.port, ls.port, d / "inbox",
                                        d / "var").items():
            mp.setenv(name, value)
        bag = DagBag(dag_folder=os.environ["AIRFLOW__CORE__DAGS_FOLDER"])
        for day in DAYS:
            for dag_id in DAGS:
                with _task_log(airflow_home / "logs" / "dag_test" / f"{dag_id}_{day}.log"):
                    run = bag.get_dag(dag_id).test(logical_date=_end_of(day))
                assert run.state == "success", (dag_id, day, [(t.task_id, t.state) for t in run.get_task_instances()])
    return module_db_url, d / "m.jsonl", airflow_home, d / "case.sqlite"


def _scan(*args: str) -> tuple[int, list[dict]]:
    """``creditflow audit pii-scan … --json`` as the auditor runs it: in a process of its own. (Read in this
    process, a live SQLite file's bytes — open, read, close — would drop the POSIX locks this process's SQLite
    connections hold on it, and Airflow's metadata database, still in use by later tests, gets corrupted.)"""
    done = subprocess.run([sys.executable, "-m", "creditflow", "audit", "pii-scan", *args, "--json"],
                          capture_output=True, text=True, env={**os.environ}, check=False)
    assert done.returncode in (0, 1), done.stderr
    return done.returncode, json.loads(done.stdout)


def _shown(sources: list[dict]) -> str:
    return json.dumps(sources, ensure_ascii=False, indent=1)


def test_the_run_put_natural_persons_through_the_pipeline(ran):
    """The scan below has something to find: the case system holds the manifest's persons in clear, and the
    pipeline took them into the warehouse (in clear today; once #19 §3 lands as tokens the scan cannot read)."""
    url, manifest, _home, case_db = ran
    code, (case,) = _scan("--manifest", str(manifest), "--sqlite", str(case_db))
    assert code == 1 and case["places"]["table:person"]["counts"]["id"] >= 5
    assert case["places"]["table:person"]["counts"]["name"] >= 5
    engine = sa.create_engine(url)
    with engine.connect() as conn:
        n = conn.execute(sa.text("SELECT count(*) FROM cf_review WHERE reason = 'natural_person'")).scalar()
    engine.dispose()
    assert n and n > 0


def test_airflow_metadata_and_logs_hold_no_clear_personal_data(ran):
    _url, manifest, home, _case_db = ran
    from airflow import settings

    # The metadata database the DAG runs above wrote to (Airflow's own engine: another test of the session may
    # have pointed AIRFLOW__DATABASE__SQL_ALCHEMY_CONN elsewhere since); scanned with the Airflow home's files.
    metadata = settings.engine.url.database
    assert metadata and os.path.exists(metadata)
    engine = sa.create_engine(f"sqlite:///{metadata}")
    with engine.connect() as conn:   # what the scan must cover is there
        assert conn.execute(sa.text("SELECT count(*) FROM xcom")).scalar() > 0
        assert conn.execute(sa.text("SELECT count(*) FROM rendered_task_instance_fields")).scalar() > 0
    engine.dispose()
    task_logs = list((home / "logs" / "dag_test").glob("*.log"))
    assert len(task_logs) == len(DAYS) * len(DAGS)
    assert all("reconcile" in p.read_text(encoding="utf-8") for p in task_logs)
    assert (home / "openlineage" / "events.jsonl").stat().st_size > 0   # the lineage events, scanned too
    folders = [str(home)] + ([] if os.path.dirname(metadata) == str(home) else ["--sqlite", metadata])
    code, sources = _scan("--manifest", str(manifest), "--dir", *folders)
    assert any(s["source"] == "sqlite:airflow.db" for s in sources), "the metadata database was not scanned"
    assert code == 0 and sum(s["total"] for s in sources) == 0, _shown(sources)


def test_the_warehouse_holds_no_clear_personal_data(ran):
    url, manifest, _home, _case_db = ran
    where = ["--sqlite", sa.engine.make_url(url).database] if url.startswith("sqlite") else ["--pg", url]
    code, sources = _scan("--manifest", str(manifest), *where)
    assert code == 0 and sum(s["total"] for s in sources) == 0, _shown(sources)
