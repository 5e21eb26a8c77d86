"""Stage 2 — standardise: map every staged record to the data standard, natural key, hash, due date."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

import pandas as pd
import sqlalchemy as sa

from creditflow.core import duedates, pii, standard
from creditflow.core import warehouse as wh
from creditflow.reporting import standardise as st
from creditflow.reporting.pipeline.common import (
    SOURCE_FIELDS,
    Run,
    _json,
    log,
)

# --- 2. standardise ----------------------------------------------------------------------------------


def _body_hash(df: pd.DataFrame, kind: str) -> list[str]:
    p = standard.PREFIX[kind]
    codes = [c for c in standard.codes(kind) if c != f"{p}_WSH" and not any(c.endswith(s) for s in SOURCE_FIELDS)]
    return st.row_hashes(df, codes)


def standardise_frame(staged: pd.DataFrame, kind: str) -> pd.DataFrame:
    """Staged raw rows (columns source_system, source_key, lineage, raw) → standardised frame."""
    frames = []
    for source, group in staged.groupby("source_system", sort=True):
        raws = [pii.open_all(json.loads(x) if isinstance(x, str) else x) for x in group["raw_payload"]]
        mapped = st.map_source_rows(raws, str(source), kind)
        mapped["source_key"] = group["source_key"].to_numpy()
        mapped["lineage"] = group["lineage"].to_numpy()
        frames.append(mapped)
    if not frames:
        return pd.DataFrame(columns=[*standard.codes(kind), *st.META_COLUMNS, *st.KEY_COLUMNS, "_row"])
    out = st.standardise(pd.concat(frames, ignore_index=True), kind)
    out["body_hash"] = _body_hash(out, kind)
    return out


def _iso_date(value: Any) -> bool:
    try:
        dt.date.fromisoformat(str(value))
        return True
    except ValueError:
        return False


def _due(decision: Any, missing_years: set[int]) -> str | None:
    """The stored deadline (ISO) or None; an unknown one is flagged by validate with its reason and shown
    as 待定 (computed from the decision date wherever it is read once the year's calendar is added)."""
    due = duedates.sgs_due(decision if decision else None)
    if due.missing_year is not None:
        missing_years.add(due.missing_year)
    return due.iso()


def standardise(run: Run, engine: sa.Engine, data_source_uscc: str | None = None) -> dict[str, int]:
    """Stage 2: map to the 双公示 fields, normalise, compute keys, hashes and the 7-working-day due date."""
    with engine.connect() as conn:
        staged = pd.read_sql(sa.select(wh.staging).where(wh.staging.c.run_key == run.run_key,
                                                         wh.staging.c.kind == run.kind), conn)
    std = standardise_frame(staged, run.kind)
    p = standard.PREFIX[run.kind]
    if data_source_uscc and len(std):
        code = f"{p}_SJLYDM" if run.kind != "license" else "XK_LYDWDM"
        std[code] = data_source_uscc
    dd = standard.DECISION_DATE[run.kind]
    due_cache: dict[Any, str | None] = {}
    missing_years: set[int] = set()
    rows = []
    codes = standard.codes(run.kind)
    ring = pii.keyring() if len(std) else None
    for rec in std.to_dict("records"):
        decision = rec.get(dd)
        if decision not in due_cache:
            due_cache[decision] = _due(decision, missing_years)
        rows.append({"run_key": run.run_key, "record_id": rec["record_id"], "kind": run.kind,
                     "source_system": rec["source_system"], "natural_key": rec["natural_key"],
                     "doc_key": rec["doc_key"], "party_key": rec["party_key"],
                     "decision_date": decision if _iso_date(decision) else None, "due_date": due_cache[decision],
                     "source_revoked": bool(rec["source_revoked"]), "content_hash": rec["content_hash"],
                     "body_hash": rec["body_hash"],
                     "payload": _json(pii.seal_payload(run.kind, {c: rec[c] for c in codes
                                                                  if rec.get(c) is not None}, ring))})
    with engine.begin() as conn:
        wh.replace_run_rows(conn, wh.standardised, run.run_key, rows, kind=run.kind)
    if missing_years:
        log.warning("no official working-day calendar for %s: due dates unknown (待定) for some records, which are "
                    "processed as usual; add data/calendar/YYYY.yaml and the dates appear (calendar_watch alerts "
                    "until then)", sorted(missing_years))
    return {"standardised": len(rows), "due_date_unknown_years": len(missing_years)}


def load_standardised(run: Run, engine: sa.Engine) -> pd.DataFrame:
    with engine.connect() as conn:
        meta = pd.read_sql(sa.select(wh.standardised).where(wh.standardised.c.run_key == run.run_key,
                                                            wh.standardised.c.kind == run.kind), conn)
    if meta.empty:
        return pd.DataFrame(columns=[*standard.codes(run.kind), "record_id", "_row"])
    ring = pii.keyring()
    fields = pd.DataFrame([pii.open_payload(run.kind, json.loads(x), ring) for x in meta["payload"]])
    for c in standard.codes(run.kind):
        if c not in fields.columns:
            fields[c] = None
    frame = pd.concat([meta.reset_index(drop=True),
                       fields[standard.codes(run.kind)].reset_index(drop=True)], axis=1)
    frame = frame.astype(object)
    frame = frame.where(frame.notna(), None)
    frame["_row"] = range(len(frame))
    return frame


