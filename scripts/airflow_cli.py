#!/usr/bin/env python3
"""``scripts/airflow`` — the ``airflow`` command for operators: the Airflow CLI with this project's environment.

``airflow`` alone is not on PATH; ``.venv/bin/airflow`` alone uses another Airflow home ("Database migration
required"); with only ``AIRFLOW_HOME=.airflow`` the DAGs' custom timetable is unknown (``TimetableNotRegistered``)
because the plugins folder, DAGs folder, keys and executor come from :mod:`airflow_env`. This wrapper runs the
venv's Airflow CLI with exactly the environment the running services have::

    scripts/airflow backfill create --dag-id sgs_penalty --from-date 2026-11-01 --to-date 2026-11-07 …
    scripts/airflow --cluster dags list                      # the make-cluster shape (PostgreSQL + Celery)
    make airflow ARGS="dags list"                            # the same through make (SHAPE=cluster for the cluster)

Shapes:

* demo (default) — ``make demo``'s Airflow home ``.airflow/`` (SQLite), API port ``AIRFLOW_PORT`` (8080), and the
  DAGs' start as the demo set it (``var/.seeded.json``);
* ``--cluster`` — ``make cluster``'s environment (``scripts/cluster.py``: ``cluster_env`` with ``CLUSTER_PORT``,
  ``CLUSTER_PG_URL``, ``CLUSTER_REDIS_URL`` as when it was started).

``--home PATH`` / ``--port N`` point at another Airflow home / API port (demo: default ``.airflow``; cluster:
``.airflow/cluster``, where ``make cluster`` records its settings; the tests use temporary ones).
Exit status: Airflow's own; 2 with one Chinese line when the shape is not set up — for the demo, a home without its
metadata DB (a fresh clone before ``make demo``: Airflow would create a home and fail in English, "Database
migration required"); ``db …`` commands (``db migrate`` creates the DB) are let through. (Not named ``airflow.py``:
``scripts/`` is on the services' and the tests' import path, where it would shadow the ``airflow`` package.)
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
VENV_PYTHON = ROOT / ".venv" / "bin" / "python"
USAGE = "用法：scripts/airflow [--cluster] [--home 目录] [--port 端口] <airflow 命令及参数>"


def _in_venv() -> bool:
    return Path(sys.prefix).resolve() == (ROOT / ".venv").resolve() or not VENV_PYTHON.exists()


def parse(argv: list[str]) -> tuple[str, Path | None, int | None, list[str]]:
    """``(shape, home, port, airflow_args)``: the wrapper's own options come before Airflow's arguments."""
    shape, home, port = "demo", None, None
    args = list(argv)
    while args and args[0] in ("--cluster", "--demo", "--home", "--port"):
        opt = args.pop(0)
        if opt in ("--cluster", "--demo"):
            shape = opt[2:]
        elif not args:
            raise SystemExit(f"[airflow] {opt} 后缺少取值。{USAGE}")
        elif opt == "--home":
            home = Path(args.pop(0)).resolve()
        else:
            value = args.pop(0)
            if not value.isdigit():
                raise SystemExit(f"[airflow] --port 应为端口号，收到“{value}”。{USAGE}")
            port = int(value)
    if args[:1] == ["--"]:
        args = args[1:]
    return shape, home, port, args


def demo_environment(home: Path | None = None, port: int | None = None) -> dict[str, str]:
    sys.path.insert(0, str(ROOT / "scripts"))
    from airflow_env import airflow_env

    env = airflow_env(home or ROOT / ".airflow", port or int(os.environ.get("AIRFLOW_PORT", "8080")))
    state = ROOT / "var" / ".seeded.json"
    if home is None and state.exists():  # the demo's DAGs start where demo.py started them
        live_from = json.loads(state.read_text()).get("live_from")
        if live_from:
            env["CREDITFLOW_SGS_START"] = str(live_from)
    return env


def cluster_environment(port: int | None = None, home: Path | None = None) -> dict[str, str]:
    sys.path.insert(0, str(ROOT / "scripts"))
    import cluster

    settings = cluster.Settings(port=port or int(os.environ.get("CLUSTER_PORT", "8090")),
                                pg_url=os.environ.get("CLUSTER_PG_URL", cluster.Settings.pg_url),
                                redis_url=os.environ.get("CLUSTER_REDIS_URL", cluster.Settings.redis_url) or None)
    if home is not None:
        settings.home = home
    state_file = settings.home / "cluster.json"
    if not state_file.exists():
        raise SystemExit(f"[airflow] 没有正在运行的 make cluster（{state_file} 不存在）：先运行 make cluster，"
                         "或去掉 --cluster 使用演示环境。")
    saved = json.loads(state_file.read_text()).get("settings", {})
    settings.pg_url = saved.get("pg_url", settings.pg_url)
    if port is None and saved.get("port"):
        settings.port = int(saved["port"])
    if "redis_url" in saved:
        settings.redis_url = saved["redis_url"]
    settings.sgs_start = saved.get("sgs_start")
    return cluster.environment(settings)


def require_demo_db(home: Path | None, args: list[str]) -> None:
    """Refuse (one Chinese line) before anything is created when the demo home has no metadata DB yet."""
    target = home or ROOT / ".airflow"
    if args[:1] != ["db"] and not (target / "airflow.db").exists():
        hint = "请先运行 make demo" if home is None else f"请先运行 scripts/airflow --home {target} db migrate"
        raise SystemExit(f"[airflow] 演示环境尚未初始化（{target / 'airflow.db'} 不存在）：{hint}。")


def environment(shape: str, home: Path | None = None, port: int | None = None) -> dict[str, str]:
    """The environment of ``shape`` on top of this process's (PYTHONPATH joined, not replaced)."""
    own = cluster_environment(port, home) if shape == "cluster" else demo_environment(home, port)
    env = {**os.environ, **own}
    env["PYTHONPATH"] = os.pathsep.join(p for p in [own.get("PYTHONPATH", ""), str(ROOT / "include")] if p)
    env.pop("_AIRFLOW_PROCESS_CONTEXT", None)
    return env


def main(argv: list[str]) -> int:
    if not _in_venv():  # run with the project's virtualenv, whatever python started us
        os.execv(str(VENV_PYTHON), [str(VENV_PYTHON), str(Path(__file__).resolve()), *argv])
    try:
        shape, home, port, args = parse(argv)
        if not args or (args[0] in ("-h", "--help") and len(args) == 1):
            print(__doc__.strip())
            print(f"\n{USAGE}")
            return 0 if args else 2
        if shape == "demo":
            require_demo_db(home, args)
        env = environment(shape, home, port)
    except SystemExit as exc:  # a refusal: one Chinese line, exit 2 (the project's CLI rule)
        if isinstance(exc.code, str):
            print(exc.code, file=sys.stderr)
            return 2
        raise
    os.execve(sys.executable, [sys.executable, "-m", "airflow", *args], env)
    return 0  # unreachable


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
