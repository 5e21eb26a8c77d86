"""#17 §6: no module of the project is imported twice. Airflow's plugin loader executes every ``.py`` file of the
plugins folder as a fresh top-level module (``sys.modules[stem] = new module``); a module the DAG files had
imported from there already was then a second copy — two classes, two caches — and the DAGs kept the first.

Checked in a fresh interpreter, as the dag-processor and the API server do it, in both orders: every DAG file
imported through ``DagBag`` and the plugins loaded through the plugin manager (app, timetables, macros), plus
the lineage extractor Airflow imports by name. Then (1) no project file is in ``sys.modules`` under two names and
(2) every function and class a project module holds is the very object its home module has under its name —
a re-executed module fails (2) even when it kept its name."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

PROBE = r"""
import importlib, inspect, json, sys
from pathlib import Path

root, order = Path(sys.argv[1]), sys.argv[2].split(",")

def dags():
    from airflow.models import DagBag
    bag = DagBag(dag_folder=str(root / "dags"))
    assert not bag.import_errors, bag.import_errors
    assert len(bag.dag_ids) >= 11, bag.dag_ids

def plugins():
    from airflow import plugins_manager as pm
    pm.ensure_plugins_loaded()
    pm.integrate_macros_plugins()
    apps, _ = pm.get_fastapi_plugins()
    assert any(a["url_prefix"] == "/creditflow" for a in apps), apps
    assert pm.get_timetables_plugins(), "no timetable registered"
    assert not pm.get_import_errors(), pm.get_import_errors()

def lineage():
    import os
    module, _, name = os.environ["AIRFLOW__OPENLINEAGE__EXTRACTORS"].rpartition(".")
    getattr(importlib.import_module(module), name)

for step in order:
    {"dags": dags, "plugins": plugins, "lineage": lineage}[step]()

def project_file(module):
    f = getattr(module, "__file__", None)
    if not f:
        return None
    path = Path(f).resolve()
    for top in ("include", "plugins", "dags"):  # the same file, from this tree or an installed copy of it
        if top in path.parts:
            i = len(path.parts) - 1 - path.parts[::-1].index(top)
            rel = Path(*path.parts[i:])
            return str(rel) if (root / rel).exists() else None
    return None

files, names = {}, {}
for name, module in list(sys.modules.items()):
    rel = project_file(module) if module is not None else None
    if rel:
        files.setdefault(rel, []).append(name)
        names[name] = module
twice = {f: n for f, n in files.items() if len(n) > 1}

copies = []
for name, module in names.items():
    for attr, value in list(vars(module).items()):
        if not (inspect.isfunction(value) or inspect.isclass(value)):
            continue
        home = sys.modules.get(getattr(value, "__module__", "") or "")
        if home is None or getattr(home, "__name__", "") not in names or "." in value.__qualname__:
            continue
        if getattr(home, value.__qualname__, value) is not value:
            copies.append(f"{name}.{attr} is not {home.__name__}.{value.__qualname__}")
print(json.dumps({"twice": twice, "copies": sorted(set(copies)), "modules": len(names)}))
"""


@pytest.mark.parametrize("order", ["dags,plugins,lineage", "plugins,lineage,dags"])
def test_no_project_module_is_loaded_twice(order):
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in (
        str(ROOT / "include"), os.environ.get("PYTHONPATH", "")) if p)}
    out = subprocess.run([sys.executable, "-c", PROBE, str(ROOT), order], capture_output=True, text=True,
                         timeout=300, env=env, cwd=ROOT)
    assert out.returncode == 0, out.stderr[-3000:]
    found = json.loads(out.stdout.strip().splitlines()[-1])
    assert found["modules"] > 20, found  # the DAG files, creditflow_airflow, creditflow_ui, creditflow …
    assert found["twice"] == {}, found["twice"]
    assert found["copies"] == [], found["copies"]
