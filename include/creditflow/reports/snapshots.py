"""Snapshots of closed periods' headline figures (``cf_report_snapshot``, revision 0011).

A monthly report shows 12 trend points, the previous period and the same period last year, each as of
its own cut-off. Recomputing them re-reads the whole year; instead, a report stores the headline figures
it computed for each period (report kind, period, cut-off, record kinds, :func:`fingerprint`) as
canonical JSON and the next report reads them back. The figures are byte-identical to computing them
fresh, because a snapshot is used only when nothing it was computed from can differ:

* **Closed.** A snapshot is stored only when its cut-off lies at least :data:`SETTLE` before the moment
  the report started reading (:func:`closed`). Every warehouse timestamp is "now" when written, so no row
  dated before the cut-off can appear afterwards; a period whose cut-off is after now (a mid-period
  report, a cut-off in the future) is computed fresh every time and never stored.
* **Same rules and code.** The fingerprint hashes :data:`FIGURES_VERSION`, the source of the modules that
  compute the figures (:data:`FIGURE_MODULES`: any edit there computes the periods again) and the
  content of every rule file the figures use (``data/reports``, ``data/rules``,
  the working-day calendars). Another fingerprint never matches: after a rules change the periods are
  computed again and stored under the new fingerprint.
* **Same runs.** The stored ``inputs`` list the daily runs counted as of the cut-off (run key, day,
  ``written_at``). A backfill that re-runs an old day replaces that run's rows and rewrites its
  ``written_at`` (after the cut-off, so the run no longer counts): the lists differ and the period is
  computed fresh again (and its snapshot replaced). The ledger history is append-only and stamped when
  written, so its rows before the cut-off never change.
* **Same window.** A report reads runs and history from the first day of its window (12 periods back),
  and a record's earlier rows outside the window are not seen. A snapshot made by a report with window
  start ``W0`` is used by a report with window start ``W`` only when ``W0 <= W`` and none of the period's
  records has a row in a run before ``W``, nor a ledger-history row before ``W`` for its key or for a
  新增 counted in the period (``earliest_day`` / ``earliest_at``): the rows between ``W0`` and ``W``
  then did not touch the period's figures.

Known gap (documented, not guarded): a natural key accepted as 新增 twice, first before the later
report's window and again inside the period, whose record does not belong to the period.

The current period of a report is always computed fresh.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from importlib import resources
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from creditflow.core import warehouse as wh
from creditflow.reports.periods import Period, stamp

FIGURES_VERSION = "1"  # raise when the code computing a period's headline figures changes what it gives
SETTLE = dt.timedelta(hours=1)  # a cut-off this long before the read is closed (writes in flight landed)


def _rule_files() -> list[Path]:
    from creditflow.core.workdays import default_override_dirs

    base = Path(str(resources.files("creditflow") / "data"))
    dirs = [base / "reports", base / "rules", base / "credit", *default_override_dirs()]
    return sorted({p for d in dirs if d.is_dir() for p in d.glob("*.yaml")})


#: The modules whose code decides a period's figures: a change to any of them is a new fingerprint, so no
#: one has to remember to raise FIGURES_VERSION for the snapshots to be computed again.
FIGURE_MODULES = ("reports/facts.py", "reports/figures.py", "reports/build.py", "reports/narrow.py",
                  "reports/periods.py", "reports/details.py", "reports/sections.py", "reports/credit_sections.py",
                  "core/publicity.py", "core/duedates.py")


def fingerprint() -> str:
    """sha256 of the figures version, the source of the modules that compute the figures and the rule
    files' names and contents."""
    h = hashlib.sha256(f"figures {FIGURES_VERSION}\n".encode())
    here = Path(__file__).resolve().parents[1]  # the creditflow package
    for name in FIGURE_MODULES:
        h.update(f"code/{name}\n".encode())
        h.update(hashlib.sha256((here / name).read_bytes()).digest())
    for path in _rule_files():
        h.update(f"{path.parent.name}/{path.name}\n".encode())
        h.update(hashlib.sha256(path.read_bytes()).digest())
    return h.hexdigest()


def now() -> dt.datetime:
    """The moment a report starts reading (a function: tests move it)."""
    return dt.datetime.now(dt.UTC)


def closed(cut_off: dt.datetime, read_at: dt.datetime) -> bool:
    """Whether figures as of ``cut_off`` can no longer change (the read started well after it)."""
    return cut_off + SETTLE <= read_at


def runs_of(runs: Any, cut_off: dt.datetime) -> list[list[str]]:
    """The counted runs as of ``cut_off`` (``Facts.runs``): sorted [day, run_key, kind, written_at]."""
    cut = stamp(cut_off)
    part = runs[runs["written_at"] < cut]
    return sorted([str(d), str(r), str(k), str(w)] for d, r, k, w in
                  zip(part["day"], part["run_key"], part["kind"], part["written_at"], strict=True))


def usable(inputs: dict[str, Any], window_start: dt.date, runs: list[list[str]], since: str) -> bool:
    """Whether a snapshot with ``inputs`` gives what a report with this window start and these counted
    runs (day >= window start) would compute (see the module docstring)."""
    w = window_start.isoformat()
    if inputs.get("window_start", "9999") > w:
        return False
    if inputs.get("earliest_day") is not None and inputs["earliest_day"] < w:
        return False
    if inputs.get("earliest_at") is not None and inputs["earliest_at"] < since:
        return False
    mine = [r for r in inputs.get("runs", []) if r[0] >= w]
    return mine == [r for r in runs if r[0] >= w]


def _key(kind: str, p: Period, cut_off: dt.datetime, kinds: tuple[str, ...], fp: str) -> dict[str, str]:
    return {"report_kind": kind, "period": p.label, "cut_off": stamp(cut_off), "kinds": ",".join(kinds),
            "fingerprint": fp}


def read(engine: sa.Engine, kind: str, p: Period, cut_off: dt.datetime, kinds: tuple[str, ...],
         fp: str) -> tuple[dict[str, Any], dict[str, Any]] | None:
    """(inputs, figures) of the stored snapshot, or None."""
    t = wh.report_snapshots
    cond = [t.c[k] == v for k, v in _key(kind, p, cut_off, kinds, fp).items()]
    with engine.connect() as conn:
        row = conn.execute(sa.select(t.c.inputs, t.c.figures).where(*cond)).first()
    return (json.loads(row[0]), json.loads(row[1])) if row else None


def write(engine: sa.Engine, kind: str, p: Period, cut_off: dt.datetime, kinds: tuple[str, ...], fp: str,
          inputs: dict[str, Any], figures: dict[str, Any]) -> None:
    """Store (replace) the snapshot: canonical JSON (sorted keys). An upsert, so that two reports of the
    same period finishing at once (the monthly DAG and an operator's CLI run) both succeed — the later
    one's row stands — instead of one failing on the primary key between a delete and an insert."""
    t = wh.report_snapshots
    key = _key(kind, p, cut_off, kinds, fp)
    values = {"inputs": json.dumps(inputs, sort_keys=True, separators=(",", ":")),
              "figures": json.dumps(figures, ensure_ascii=False, sort_keys=True, separators=(",", ":")),
              "created_at": wh.now_iso()}
    if engine.dialect.name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert
    else:
        from sqlalchemy.dialects.sqlite import insert  # type: ignore[assignment]
    statement = insert(t).values(**key, **values)
    with engine.begin() as conn:
        conn.execute(statement.on_conflict_do_update(index_elements=list(key), set_=values))
