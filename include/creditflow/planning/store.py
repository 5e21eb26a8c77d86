"""A year's plan on disk, and the list of plans the plugin pages show.

Layout (the DAG uses ``var/plans/<year>/``)::

    <dir>/inspection_plan_<year>.xlsx   the plan and every table behind it
    <dir>/inspection_plan_<year>.pdf    summary with charts
    <dir>/plan.json                     summary, key list, draw, diff — what next year's diff reads

Files are written to a temporary name and renamed, so a reader never sees half a plan.
"""

from __future__ import annotations

import datetime as dt
import json
import os
from pathlib import Path
from typing import Any

from creditflow.common import mask_text
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
        "unscheduled": [{"job_id": u.job.job_id, "ent_id": u.job.ent_id, "mandatory": u.job.mandatory,
                         "reason": u.reason} for u in plan.schedule.unscheduled],
        "diff": plan.diff,
        "files": file_names(plan.year),
    }


def _atomic(path: Path, write) -> None:  # type: ignore[no-untyped-def]
    tmp = path.with_name(f".{path.name}.tmp")
    write(tmp)
    os.replace(tmp, path)


def save_plan(plan: Plan, directory: str | Path) -> dict[str, Path]:
    """Write the year's XLSX, PDF and plan.json into ``directory`` (created if needed)."""
    from creditflow.planning.pdf import write_pdf
    from creditflow.planning.xlsx import write_xlsx

    out = Path(directory)
    out.mkdir(parents=True, exist_ok=True)
    names = file_names(plan.year)
    paths = {k: out / v for k, v in names.items()}
    _atomic(paths["xlsx"], lambda p: write_xlsx(plan, p))
    _atomic(paths["pdf"], lambda p: write_pdf(plan, p))
    # Units are enterprises, but a sole trader's record may carry a resident ID: mask every text.
    doc = mask_text(json.dumps(plan_document(plan), ensure_ascii=False, indent=1, sort_keys=True))
    _atomic(paths["json"], lambda p: p.write_text(doc, encoding="utf-8"))
    return paths


def read_plan(directory: str | Path) -> dict[str, Any] | None:
    path = Path(directory) / PLAN_JSON
    if not path.is_file():
        return None
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError):
        return None
    return data if isinstance(data, dict) else None


def previous_plan(directory: str | Path, year: int) -> dict[str, Any] | None:
    """Last year's plan.json next to this year's directory (``…/<year-1>/``), if it was written."""
    d = Path(directory)
    if d.name != str(year):
        return None
    return read_plan(d.parent / str(year - 1))


def list_plans(root: str | Path) -> list[dict[str, Any]]:
    """Every saved plan under ``root`` (``root/<year>/plan.json``), newest year first, for the plugin pages:
    year, directory, files (name → path, existing only), summary, written (local file time, ISO)."""
    base = Path(root)
    out: list[dict[str, Any]] = []
    if not base.is_dir():
        return out
    for d in sorted((p for p in base.iterdir() if p.is_dir() and p.name.isdigit()), key=lambda p: -int(p.name)):
        doc = read_plan(d)
        if doc is None:
            continue
        year = int(d.name)
        files = {k: d / v for k, v in file_names(year).items() if (d / v).is_file()}
        written = dt.datetime.fromtimestamp((d / PLAN_JSON).stat().st_mtime).isoformat(timespec="seconds")
        out.append({"year": year, "directory": d, "files": files, "summary": doc.get("summary", {}),
                    "key_entered": len((doc.get("diff") or {}).get("entered", [])),
                    "key_left": len((doc.get("diff") or {}).get("left", [])), "written": written})
    return out
