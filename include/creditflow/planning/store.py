"""A year's plan in storage, and the list of plans the plugin pages show.

Layout (the DAG uses the ``plans`` storage area, by default ``var/plans/<year>/``)::

    <dir>/inspection_plan_<year>.xlsx   the plan and every table behind it
    <dir>/inspection_plan_<year>.pdf    summary with charts
    <dir>/plan.json                     summary, key list, draw, diff — what next year's diff reads

``<dir>`` is a local folder, an fsspec URL or a :class:`~creditflow.core.storage.Storage` (S3-compatible
object storage in production). The documents are rendered into a temporary folder and published file by
file; on a local folder each file is written to a temporary name and renamed, so a reader never sees half
a file, and plan.json — what marks a plan as made — is published last.
"""

from __future__ import annotations

import json
import tempfile
from pathlib import Path
from typing import Any, overload

from creditflow.common import mask_text
from creditflow.core.storage import Storage, as_storage
from creditflow.planning.plan import Plan

PLAN_JSON = "plan.json"


def file_names(year: int) -> dict[str, str]:
    return {"xlsx": f"inspection_plan_{year}.xlsx", "pdf": f"inspection_plan_{year}.pdf", "json": PLAN_JSON}


def plan_document(plan: Plan) -> dict[str, Any]:
    d = plan.draw
    return {
        "summary": plan.summary(),
        "as_of": plan.as_of.isoformat(),
        "regime": {"id": plan.params.regime.id, "title_zh": plan.params.regime.title_zh},
        "list_source": plan.inputs.list_source,
        "data_problems": list(plan.inputs.data_problems),
        "capacity": plan.capacity,
        "solver": {"status": plan.schedule.status, "objective": plan.schedule.objective, "bound": plan.schedule.bound,
                   "gap": plan.schedule.gap, "district_pairs": plan.schedule.district_pairs,
                   "district_pairs_bound": plan.schedule.district_pairs_bound},
        "key_list": plan.key_records(),
        "draw": {"seed": d.seed, "scale": d.scale, "capacity_checks": d.capacity_checks, "cycle_years": d.cycle_years,
                 "strata": [{"base_class": s.base_class, "credit": s.credit, "total": s.total,
                             "excluded_recent": len(s.excluded_recent), "forced": s.forced, "pool": len(s.pool),
                             "target_ratio": str(s.target_ratio), "quota": s.quota, "drawn": s.drawn}
                            for s in d.strata]},
        "credit_effect": plan.credit_effect(),
        "shortfall": plan.shortfall_units(),
        "unscheduled": [{"job_id": u.job.job_id, "ent_id": u.job.ent_id, "mandatory": u.job.mandatory,
                         "reason": u.reason} for u in plan.schedule.unscheduled],
        "diff": plan.diff,
        "files": file_names(plan.year),
    }


def _where(store: Storage, key: str) -> Path | str:
    """A file's local path on a local folder (what callers always had), else its URL."""
    local = store.local_path(key)
    return local if local is not None else store.url_of(key)


@overload
def save_plan(plan: Plan, directory: str | Path) -> dict[str, Path]: ...
@overload
def save_plan(plan: Plan, directory: Storage) -> dict[str, Path | str]: ...
def save_plan(plan: Plan, directory: str | Path | Storage) -> dict[str, Path] | dict[str, Path | str]:
    """Write the year's XLSX, PDF and plan.json into ``directory`` (created if needed); returns kind →
    local path (on a local folder) or URL."""
    from creditflow.planning.pdf import write_pdf
    from creditflow.planning.xlsx import write_xlsx

    store = as_storage(directory)
    names = file_names(plan.year)
    with tempfile.TemporaryDirectory(prefix="creditflow-plan-") as tmp:
        rendered = {k: Path(tmp) / v for k, v in names.items()}
        write_xlsx(plan, rendered["xlsx"])
        write_pdf(plan, rendered["pdf"])
        # Units are enterprises, but a sole trader's record may carry a resident ID: mask every text.
        doc = mask_text(json.dumps(plan_document(plan), ensure_ascii=False, indent=1, sort_keys=True))
        rendered["json"].write_text(doc, encoding="utf-8")
        for kind in ("xlsx", "pdf", "json"):  # plan.json last: a plan is "made" once its documents are there
            store.put_file(rendered[kind], names[kind])
    return {k: _where(store, v) for k, v in names.items()}  # type: ignore[return-value]


def read_plan(directory: str | Path | Storage) -> dict[str, Any] | None:
    store = as_storage(directory)
    try:
        data = json.loads(store.read_text(PLAN_JSON))
    except FileNotFoundError:
        return None
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def previous_plan(directory: str | Path | Storage, year: int) -> dict[str, Any] | None:
    """Last year's plan.json next to this year's directory (``…/<year-1>/``), if it was written."""
    store = as_storage(directory)
    if store.name != str(year):
        return None
    return read_plan(store.parent.child(str(year - 1)))


def list_plans(root: str | Path | Storage) -> list[dict[str, Any]]:
    """Every saved plan under ``root`` (``root/<year>/plan.json``), newest year first, for the plugin pages:
    year, directory, files (name → local path or URL, existing only), summary, written (local time, ISO)."""
    store = as_storage(root)
    out: list[dict[str, Any]] = []
    years = sorted((int(d) for d in store.dirs() if d.isdigit()), reverse=True)
    for year in years:
        sub = store.child(str(year))
        doc = read_plan(sub)
        if doc is None:
            continue
        present = {e.key: e for e in sub.list_files()}
        files = {k: _where(sub, v) for k, v in file_names(year).items() if v in present}
        written = present[PLAN_JSON].modified.astimezone().replace(tzinfo=None).isoformat(timespec="seconds")
        out.append({"year": year, "directory": _where(store, str(year)), "files": files,
                    "summary": doc.get("summary", {}),
                    "key_entered": len((doc.get("diff") or {}).get("entered", [])),
                    "key_left": len((doc.get("diff") or {}).get("left", [])), "written": written})
    return out
