"""#18.5 "The runbook works as written": every Airflow command the README and the DAGs' runbooks (doc_md) tell an
operator to type is run, as written, through ``scripts/airflow`` against a real Airflow home (its own, migrated
and with the DAGs serialized — a running stack's metadata) from a shell that has none of the project's
environment, the way an operator's shell is. Backfills run with ``--dry-run`` (they would otherwise queue weeks
of runs); everything else runs for real. Before the wrapper the README said ``airflow backfill create …``:
not on PATH, another Airflow home with ``.venv/bin/airflow``, ``TimetableNotRegistered`` with only
``AIRFLOW_HOME``."""

from __future__ import annotations

import os
import re
import shlex
import subprocess
from pathlib import Path

import pytest

pytestmark = [pytest.mark.integration, pytest.mark.slow]
ROOT = Path(__file__).resolve().parents[2]
WRAPPER = ROOT / "scripts" / "airflow"
CODE_SPAN = re.compile(r"`([^`\n]+)`")
BASH_BLOCK = re.compile(r"```bash\n(.*?)```", re.S)


def _commands_in(text: str) -> list[str]:
    """Shell commands a text tells to run: inline code spans and bash blocks (continuation lines joined) that
    invoke Airflow, in any spelling (``airflow …``, ``scripts/airflow …``, ``.venv/bin/airflow …``)."""
    found = []
    for block in BASH_BLOCK.findall(text):
        pending = ""
        for line in re.sub(r"\\\n\s*", " ", block).splitlines():
            if not pending:
                line = line.split("  #", 1)[0].strip()
                if not line or line.startswith("#"):
                    continue
            pending = f"{pending} {line.strip()}" if pending else line
            try:
                shlex.split(pending)
            except ValueError:  # a quoted argument goes on on the next line
                continue
            found.append(pending)
            pending = ""
    found += [span.strip() for span in CODE_SPAN.findall(BASH_BLOCK.sub("", text))]
    return [c for c in found if re.match(r"^(?:\S*/)?airflow(?:_cli\.py)? +[a-z]", c)]


def _documented() -> dict[str, list[str]]:
    from airflow.models import DagBag

    docs = {"README.md": (ROOT / "README.md").read_text(encoding="utf-8")}
    bag = DagBag(dag_folder=str(ROOT / "dags"))
    assert not bag.import_errors
    docs.update({f"doc_md of {dag_id}": dag.doc_md or "" for dag_id, dag in sorted(bag.dags.items())})
    # A multi-line bash block in a doc_md is unusual but allowed; JSON in code spans is a single line.
    return {where: cmds for where, text in docs.items() if (cmds := _commands_in(text))}


def _operator_env(tmp_path: Path) -> dict[str, str]:
    """An operator's shell: none of the Airflow or creditflow settings the test session itself runs with."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("AIRFLOW", "CREDITFLOW", "_AIRFLOW")) and k not in ("PYTHONPATH",)}
    env.update({"MINIO_ACCESS_KEY": "minio-key", "MINIO_SECRET_KEY": "minio-secret", "HOME": str(tmp_path)})
    return env


def _run(argv: list[str], env: dict[str, str], home: Path) -> subprocess.CompletedProcess:
    assert argv[0] == "scripts/airflow", argv
    port = os.environ.get("CF_TEST_API_PORT", "28080")
    return subprocess.run([str(WRAPPER), "--home", str(home), "--port", port, *argv[1:]], env=env, cwd=ROOT,
                          capture_output=True, text=True, timeout=300)


def _runs_to_attempt(dry_run_output: str) -> list[str]:
    """The logical dates a ``backfill create --dry-run`` lists under "Runs to be attempted:" (a grid table; empty
    when the range holds no run of the DAG's schedule — the parameters it prints before name the dates anyway)."""
    _, found, table = dry_run_output.partition("Runs to be attempted:")
    return re.findall(r"^\|\s*(\d{4}-\d{2}-\d{2}[ T][\d:.+-]+)", table, re.M) if found else []


def test_a_dry_run_lists_the_runs_it_would_create():
    # The shape of Airflow's dry-run output (airflow/cli/commands/backfill_command.py), with and without runs.
    params = "Performing dry run of backfill.\nPrinting params:\n    - from_date = 2025-12-01 00:00:00+08:00\n"
    with_runs = (params + "Runs to be attempted:\n+---------------------------+\n| logical_date              |\n"
                 "+===========================+\n| 2025-12-01 01:00:00+00:00 |\n+---------------------------+\n")
    assert _runs_to_attempt(with_runs) == ["2025-12-01 01:00:00+00:00"]
    assert _runs_to_attempt(params + "Runs to be attempted:\n\n") == []


def test_every_documented_airflow_command_goes_through_the_wrapper():
    documented = _documented()
    assert "README.md" in documented and any(w.startswith("doc_md of sgs_") for w in documented)
    bare = {where: [c for c in cmds if not c.startswith("scripts/airflow ")] for where, cmds in documented.items()}
    assert {w: c for w, c in bare.items() if c} == {}


def test_every_documented_airflow_command_runs_against_an_airflow_home(tmp_path):
    home, env = tmp_path / "airflow-home", _operator_env(tmp_path)
    for setup in (["scripts/airflow", "db", "migrate"], ["scripts/airflow", "dags", "reserialize"]):
        done = _run(setup, env, home)
        assert done.returncode == 0, (setup, done.stderr[-2000:])
    commands = sorted({c for cmds in _documented().values() for c in cmds if c.startswith("scripts/airflow ")})
    assert len(commands) >= 8, commands
    for command in commands:
        argv = shlex.split(os.path.expandvars(command))
        if argv[1:3] == ["backfill", "create"]:
            argv.append("--dry-run")
        done = _run(argv, env, home)
        assert done.returncode == 0, (command, done.stdout[-1500:], done.stderr[-2500:])
        assert "TimetableNotRegistered" not in done.stderr and "migration required" not in done.stderr.lower()
        if argv[1:3] == ["backfill", "create"]:  # a documented backfill must create runs, not "No runs to create"
            assert _runs_to_attempt(done.stdout), (command, done.stdout[-1500:])
    listed = _run(["scripts/airflow", "dags", "list-runs", "sgs_history", "-o", "plain"], env, home)
    assert listed.returncode == 0 and "manual__" in listed.stdout  # the documented trigger created a real run
    connection = _run(["scripts/airflow", "connections", "get", "creditflow_storage", "-o", "json"], env, home)
    assert connection.returncode == 0 and "s3://creditflow/zhuhai" in connection.stdout


def test_the_wrapper_refuses_a_cluster_that_is_not_running_in_one_chinese_line(tmp_path):
    env = _operator_env(tmp_path)
    state = ROOT / ".airflow" / "cluster" / "cluster.json"
    if state.exists():
        pytest.skip("a make cluster is running on this checkout")
    done = subprocess.run([str(WRAPPER), "--cluster", "dags", "list"], env=env, cwd=ROOT, capture_output=True,
                          text=True, timeout=120)
    assert done.returncode == 2 and "没有正在运行的 make cluster" in done.stderr
    assert "Traceback" not in done.stderr
