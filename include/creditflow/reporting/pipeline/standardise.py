"""Stage 2 — standardise: map every staged record to the data standard, natural key, hash, due date."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import threading
from collections import OrderedDict
from typing import Any

import pandas as pd
import sqlalchemy as sa

from creditflow.core import duedates, pii, standard, workdays
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


def _due(decision: Any, missing_years: set[int], calendar: Any = None) -> str | None:
    """The stored deadline (ISO) or None; an unknown one is flagged by validate with its reason and shown
    as 待定 (computed from the decision date wherever it is read once the year's calendar is added)."""
    due = duedates.sgs_due(decision if decision else None, calendar)
    if due.missing_year is not None:
        missing_years.add(due.missing_year)
    return due.iso()


#: Standardised rows kept per process, by everything they are computed from (:func:`_memo_key`): a record
#: waiting for 层层审核 is taken into every later day with the same staged row, and a history load or a
#: long-lived worker standardised it again each day (≈ 94 % of a loaded year's penalty records). What is
#: kept is what ``cf_standardised`` stores — personal values sealed, natural persons' keys blind — never a
#: clear value; the due date is not kept (computed each run: a calendar added meanwhile is seen).
_MEMO: OrderedDict[str, dict[str, Any]] = OrderedDict()
_MEMO_SIZE = 20_000
_MEMO_LOCK = threading.Lock()


def clear_memo() -> None:
    """Forget the kept rows (tests that change the rules' data in one process)."""
    with _MEMO_LOCK:
        _MEMO.clear()


def _ring_mark(ring: pii.Keyring) -> str:
    """Which keys seal and blind (a hash, never a key): a row kept under other keys is not reused."""
    from creditflow.core.pii import sm4

    raw = ring.active.encode() + ring.keys[ring.active] + ring.index_key + bytes([sm4._PASSTHROUGH_FOR_TESTS])
    return hashlib.sha256(raw).hexdigest()


def _memo_key(kind: str, staged: dict[str, Any], data_source_uscc: str | None, mark: str) -> str:
    """The row's inputs: kind, source, key, lineage, the staged payload as stored, the data-source override,
    the keys in use. The rules that map and normalise are the process's own (data files read once)."""
    parts = (kind, staged["source_system"], staged["source_key"], staged["lineage"] or "",
             staged["raw_payload"], data_source_uscc or "", mark)
    return hashlib.sha256("\x1f".join(map(str, parts)).encode()).hexdigest()


def _standardised_rows(staged: pd.DataFrame, kind: str, data_source_uscc: str | None) -> list[dict[str, Any]]:
    """The run's rows as ``cf_standardised`` stores them (without run key and due date), in the order
    :func:`standardise_frame` gives (by source system, then as staged); rows this process already
    standardised from the same inputs are taken from :data:`_MEMO`, the others computed together."""
    if staged.empty:
        return []
    ring = pii.keyring()
    mark = _ring_mark(ring)
    records = staged.to_dict("records")
    order = sorted(range(len(records)), key=lambda i: str(records[i]["source_system"]))  # stable: as staged
    keys = [_memo_key(kind, r, data_source_uscc, mark) for r in records]
    with _MEMO_LOCK:
        kept = {k: _MEMO[k] for k in keys if k in _MEMO}
        for k in kept:
            _MEMO.move_to_end(k)  # in use: kept longest
    todo = [i for i in order if keys[i] not in kept]
    computed: dict[int, dict[str, Any]] = {}
    if todo:
        std = standardise_frame(staged.iloc[todo], kind)  # by source system, then as given: ``todo``'s order
        p = standard.PREFIX[kind]
        if data_source_uscc:
            std[f"{p}_SJLYDM" if kind != "license" else "XK_LYDWDM"] = data_source_uscc
        codes = standard.codes(kind)
        for i, rec in zip(todo, std.to_dict("records"), strict=True):
            computed[i] = {
                "record_id": rec["record_id"], "kind": kind, "source_system": rec["source_system"],
                "natural_key": _key(rec["natural_key"]), "doc_key": _key(rec["doc_key"]),
                "party_key": _key(rec["party_key"]),
                "decision_date": rec.get(standard.DECISION_DATE[kind]), "source_revoked": bool(rec["source_revoked"]),
                "content_hash": rec["content_hash"], "body_hash": rec["body_hash"],
                "payload": _json(pii.seal_payload(kind, {c: rec[c] for c in codes if rec.get(c) is not None}, ring))}
    if computed:
        with _MEMO_LOCK:
            _MEMO.update({keys[i]: row for i, row in computed.items()})
            while len(_MEMO) > _MEMO_SIZE:
                _MEMO.popitem(last=False)
    return [computed[i] if i in computed else kept[keys[i]] for i in order]


def _key(value: Any) -> str | None:
    """A key as the warehouse stores it: text, or ``None`` for no key — never the NaN pandas gives a column of
    text with gaps (PostgreSQL stored it as the text 'NaN', a "key" every keyless record shared; 0019)."""
    return value if isinstance(value, str) else None


def standardise(run: Run, engine: sa.Engine, data_source_uscc: str | None = None) -> dict[str, int]:
    """Stage 2: map to the 双公示 fields, normalise, compute keys, hashes and the 7-working-day due date."""
    with engine.connect() as conn:
        staged = pd.read_sql(sa.select(wh.staging).where(wh.staging.c.run_key == run.run_key,
                                                         wh.staging.c.kind == run.kind), conn)
    due_cache: dict[Any, str | None] = {}
    missing_years: set[int] = set()
    rows = []
    calendar = None  # the official calendar as it is now, looked up once for the run's decision dates
    for std in _standardised_rows(staged, run.kind, data_source_uscc):
        decision = std["decision_date"]
        if decision not in due_cache:
            calendar = calendar or workdays.official_calendar()
            due_cache[decision] = _due(decision, missing_years, calendar)
        rows.append({**std, "run_key": run.run_key, "decision_date": decision if _iso_date(decision) else None,
                     "due_date": due_cache[decision]})
    with engine.begin() as conn:
        wh.replace_run_rows(conn, wh.standardised, run.run_key, rows, kind=run.kind)
    if missing_years:
        log.warning("no official working-day calendar for %s: due dates unknown (待定) for some records, which are "
                    "processed as usual; add data/calendar/YYYY.yaml and the dates appear (calendar_watch alerts "
                    "until then)", sorted(missing_years))
    return {"standardised": len(rows), "due_date_unknown_years": len(missing_years)}


def load_standardised(run: Run, engine: sa.Engine) -> pd.DataFrame:
    """The interval's standardised rows (``cf_standardised``) with their fields, personal fields opened: one
    column per data-standard field, ``None`` for a missing value, ``_row`` numbering the rows."""
    with engine.connect() as conn:
        meta = pd.read_sql(sa.select(wh.standardised).where(wh.standardised.c.run_key == run.run_key,
                                                            wh.standardised.c.kind == run.kind), conn)
    if meta.empty:
        return pd.DataFrame(columns=[*standard.codes(run.kind), "record_id", "_row"])
    fields = pd.DataFrame(_opened_fields(run, meta["payload"].tolist()), columns=standard.codes(run.kind))
    frame = pd.concat([meta.reset_index(drop=True), fields], axis=1)
    frame = frame.astype(object)
    frame = frame.where(frame.notna(), None)
    frame["_row"] = range(len(frame))
    return frame


def load_standardised_records(run: Run, engine: sa.Engine) -> list[dict[str, Any]]:
    """``load_standardised(run, engine).to_dict("records")`` — the same dicts — without building the frame:
    what ``decide`` reads (≈ 900 waiting records a late day of a loaded year, through pandas and back)."""
    t = wh.standardised
    with engine.connect() as conn:
        meta = [dict(r) for r in conn.execute(sa.select(t).where(t.c.run_key == run.run_key,
                                                                 t.c.kind == run.kind)).mappings()]
    if not meta:
        return []
    codes = standard.codes(run.kind)
    opened = _opened_fields(run, [m["payload"] for m in meta])
    return [{**{k: _value(v) for k, v in m.items()}, **{c: _value(o.get(c)) for c in codes}, "_row": i}
            for i, (m, o) in enumerate(zip(meta, opened, strict=True))]


def _value(value: Any) -> Any:
    """A cell as :func:`load_standardised` gives it: ``None`` for a missing value (NaN too)."""
    return None if value is None or (isinstance(value, float) and value != value) else value


#: The fields :func:`load_standardised` opened last: (run key, kind, keyring mark, the payloads as stored, the
#: opened payloads). ``validate`` and then ``decide`` read the same interval's rows in one process
#: (``process_interval``, ``process_range``): the second read takes what the first opened instead of unsealing
#: it again, once, and only when every stored payload is the one opened. At most one interval's fields are
#: held, no longer than until they are taken or the next interval's replace them — what the running stage
#: holds anyway. Readers build their frame or records from them and never change them.
_OPENED: tuple[str, str, str, list[str], list[dict[str, Any]]] | None = None
_OPENED_LOCK = threading.Lock()


def _opened_fields(run: Run, payloads: list[str]) -> list[dict[str, Any]]:
    """Each stored payload with its personal fields opened, in order."""
    global _OPENED
    ring = pii.keyring()
    mark = _ring_mark(ring)
    with _OPENED_LOCK:
        kept, _OPENED = _OPENED, None
    if kept is not None and kept[:3] == (run.run_key, run.kind, mark) and kept[3] == payloads:
        return kept[4]
    opened = [pii.open_payload(run.kind, json.loads(x), ring) for x in payloads]
    with _OPENED_LOCK:
        _OPENED = (run.run_key, run.kind, mark, payloads, opened)
    return opened


def forget_opened() -> None:
    """Drop the fields :func:`load_standardised` holds (tests; a process that is done with its intervals)."""
    global _OPENED
    with _OPENED_LOCK:
        _OPENED = None
