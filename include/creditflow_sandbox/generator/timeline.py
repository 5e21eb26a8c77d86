"""A world that advances with the runs: the happenings ``generate_to(..., timeline=...)`` held back
(entries in the case system, licences, edits, revocations, late entries, fixes) are applied up to a
moment, and district files are released from a drop folder once they have arrived.

The run for local day D is scheduled at D+1 06:00 (:data:`creditflow.common.DAILY_RUN_DELAY` after the
day) and must see the sources as they were then — nothing later::

    advance_to(run_cutoff(day), happenings, case_db=..., licensing_db=..., drop=..., inbox=...)
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from creditflow.common import DAILY_RUN_DELAY, TZ

from creditflow_sandbox.generator.casedb import apply_events
from creditflow_sandbox.generator.config import _iso
from creditflow_sandbox.generator.district import release_files


def run_cutoff(day: dt.date) -> dt.datetime:
    """When the run for local day ``day`` is scheduled (aware): what it sees happened before this."""
    return dt.datetime.combine(day + dt.timedelta(days=1), dt.time(), TZ) + DAILY_RUN_DELAY


def _local(value: Any) -> dt.datetime:
    """A happening's time as the case system records it: local, naive."""
    at = value if isinstance(value, dt.datetime) else dt.datetime.fromisoformat(str(value))
    return at.astimezone(TZ).replace(tzinfo=None) if at.tzinfo else at


def licence_happening(item: dict[str, Any]) -> dict[str, Any]:
    """A licence appearing in the licensing system at its ``updatedAt``."""
    return {"at": _local(item["updatedAt"]), "op": "licence", "item": item}


def write_timeline(path: str | Path, happenings: list[dict[str, Any]]) -> int:
    """Write the happenings in time order, one JSON object a line; returns how many."""
    ordered = sorted(happenings, key=lambda h: _local(h["at"]))
    with open(path, "w", encoding="utf-8") as fh:
        for h in ordered:
            fh.write(json.dumps({**h, "at": _local(h["at"]).isoformat()}, ensure_ascii=False, default=_iso) + "\n")
    return len(ordered)


def read_timeline(path: str | Path) -> list[dict[str, Any]]:
    with open(path, encoding="utf-8") as fh:
        return [json.loads(line) for line in fh if line.strip()]


def advance_to(before: dt.datetime, happenings: list[dict[str, Any]], *, case_db: sa.Engine | None = None,
               licensing_db: sa.Engine | None = None, drop: str | Path | None = None,
               inbox: str | Path | None = None) -> dict[str, int]:
    """Apply every happening dated before ``before`` (an aware moment) and release the district files
    that arrived before it from ``drop`` to ``inbox``. Safe to call again with the same or a later
    moment: what was applied is applied again to the same effect. Returns the case-system happenings and
    licences applied (all those before the moment) and the files this call released."""
    if before.tzinfo is None:
        raise ValueError("advance_to needs an aware moment (the run's scheduled start)")
    limit = _local(before)
    due = [h for h in happenings if _local(h["at"]) < limit]
    case_events = [h for h in due if h.get("op") != "licence"]
    licences = [h["item"] for h in due if h.get("op") == "licence"]
    applied = apply_events(case_db, case_events, None) if case_db is not None and case_events else 0
    if licensing_db is not None and licences:
        from creditflow_sandbox.licensing import upsert_licences

        upsert_licences(licensing_db, licences)
    released = release_files(drop, inbox, before) if drop is not None and inbox is not None else []
    return {"case_events": applied, "licences": len(licences) if licensing_db is not None else 0,
            "files_released": len(released)}
