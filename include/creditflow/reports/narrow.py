"""The current period read on its own, when every earlier period comes from a snapshot.

A report's figures for its own period are computed from the facts of its whole window (12 periods back,
:func:`creditflow.reports.build.compute`). When all earlier periods are read from snapshots, only the
current period's facts are needed, except for the few things that look at the whole window. This module
reads the period alone (window = the period) and proves, with small queries, that the whole-window facts
would give the same figures; when it cannot, the report reads the whole window as before.

The current period's figures are the same from the narrow facts (runs from the period's first day) as from
the wide ones (runs from the window's first day) when, among the wide window's runs and history before the
period's first day ("early"):

1. no early standardised row (a superset of the outcome ⋈ standardised rows the facts hold) has a decision
   date on or after the period's first day (or one not in ISO form that sorts after it), and no record of
   the narrow rows has an early row: the period's records and each one's rows are the same;
2. no early ledger-history row (sent / accepted / rejected) belongs to a key the narrow report used (its
   records, the 新增 / 更正 / 撤销 it counted) or was decided by a run whose day + 1 may fall in the period
   (its run key matches the period's days or month, a superset): the publication flags, 新增 and
   corrections are the same.

Two things depend on the whole window and are read for it, cheaply: the quarantine backlog by age (the
rows of every record ever quarantined in the window, :func:`backlog_facts`) and the platform's rejection
messages (the first text per code among the window's PLATFORM_REJECTED findings, :func:`rejected_findings`).
"""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

import pandas as pd
import sqlalchemy as sa

from creditflow.core import warehouse as wh
from creditflow.reports import facts, figures
from creditflow.reports.periods import Period, stamp


def runs(engine: sa.Engine, window: tuple[dt.date, dt.date], cut_off: dt.datetime,
         kinds: tuple[str, ...]) -> pd.DataFrame:
    """The runs :func:`facts.load` counts for ``window`` as of ``cut_off`` (run_key, kind, day, written_at)."""
    s = wh.run_summary
    last = (cut_off.date() + dt.timedelta(days=1)).isoformat()
    with engine.connect() as conn:
        out = facts._read(conn, sa.select(s.c.run_key, s.c.kind, s.c.interval_start, s.c.written_at)
                          .where(facts.first_reconciled_before(stamp(cut_off)), s.c.kind.in_(kinds),
                                 s.c.interval_start >= window[0].isoformat(), s.c.interval_start < last),
                          ["run_key", "kind", "interval_start", "written_at"])
    out["day"] = out["interval_start"].str.slice(0, 10)
    return out


def _temp(conn: sa.Connection, columns: list[str], rows: list[tuple[Any, ...]]) -> sa.Table:
    """A temporary table of ``rows`` (primary key: all columns), filled through the driver's executemany."""
    t = sa.Table(f"tmp_cf_{uuid.uuid4().hex[:12]}", sa.MetaData(),
                 *[sa.Column(c, sa.String(400), primary_key=True) for c in columns], prefixes=["TEMPORARY"])
    t.create(conn)
    mark = {"qmark": "?", "numeric": ":{}", "named": ":c{}", "format": "%s", "pyformat": "%s"}[conn.dialect.paramstyle]
    values = ", ".join(mark.format(i + 1) for i in range(len(columns)))
    if conn.dialect.paramstyle == "named":
        data: list[Any] = [{f"c{i + 1}": v for i, v in enumerate(r)} for r in set(rows)]
    else:
        data = list(set(rows))
    if data:
        conn.exec_driver_sql(f"INSERT INTO {t.name} ({', '.join(columns)}) VALUES ({values})", data)
    return t


def _out_day_patterns(p: Period) -> list[str]:
    """LIKE patterns matching every run key whose day + 1 falls in ``p`` (``…|YYYY-MM-DD…``; a month's
    prefix when more than a week of it is concerned): a superset, so a match only ever costs a whole read."""
    days = [p.start - dt.timedelta(days=1) + dt.timedelta(days=i) for i in range((p.end - p.start).days)]
    months: dict[str, list[dt.date]] = {}
    for d in days:
        months.setdefault(f"{d:%Y-%m}", []).append(d)
    out = []
    for prefix, ds in sorted(months.items()):
        out.extend([f"%|{prefix}-%"] if len(ds) > 7 else [f"%|{d.isoformat()}%" for d in ds])
    return out


def _run_keys(patterns: list[str]) -> sa.Select[Any]:
    """The distinct run keys of the ledger history that match one of the LIKE ``patterns``, found with one
    index probe per distinct key (``ix_ledger_history_run``: a recursive "next key after k", not a scan)."""
    h = wh.ledger_history
    r = sa.select(sa.func.min(h.c.run_key).label("k")).cte("cf_h_runs", recursive=True)
    r = r.union_all(sa.select(sa.select(sa.func.min(h.c.run_key)).where(h.c.run_key > r.c.k).scalar_subquery())
                    .where(r.c.k.is_not(None)))
    return sa.select(r.c.k).where(r.c.k.is_not(None), sa.or_(*[r.c.k.like(x) for x in patterns]))


def same_as_wide(engine: sa.Engine, known: facts.Facts, wide_runs: pd.DataFrame, wide_start: dt.date, p: Period,
                 cut: dt.datetime, rec: pd.DataFrame, kinds: tuple[str, ...]) -> bool:
    """Whether ``rec`` (the period's records from the narrow ``known``) and its figures are what the wide
    window would give (conditions 1 and 2 of the module docstring)."""
    early = wide_runs[wide_runs["day"] < p.start.isoformat()]
    if not len(early):
        return True
    std, h = wh.standardised, wh.ledger_history
    cut_s = stamp(cut)
    ids = [(str(r),) for r in set(known.rows["record_id"].tolist())]
    keys = figures.keys_used(known, rec, p, cut_s)
    wanted = {tuple(k.split("\x00", 1)) for part in keys for k in part.tolist()}
    since_wide = stamp(facts._local_midnight(wide_start))
    since_p = stamp(facts._local_midnight(p.start))
    with engine.begin() as conn:
        id_t = _temp(conn, ["record_id"], ids)
        key_t = _temp(conn, ["kind", "natural_key"], [(str(k), str(n)) for k, n in wanted])
        try:
            # 1. an early row of a narrow record, or dated in (or after) the period: counted on the standardised
            # rows of the early runs (a superset of the outcome ⋈ standardised rows the facts hold)
            for chunk in facts._chunks(sorted(early["run_key"].unique().tolist())):
                clash = conn.execute(sa.select(sa.func.count()).select_from(std).where(
                    std.c.run_key.in_(chunk), std.c.kind.in_(kinds),
                    sa.or_(std.c.decision_date >= p.start.isoformat(),
                           std.c.record_id.in_(sa.select(id_t.c.record_id))))).scalar_one()
                if clash:
                    return False
            # 2. an early history row of a key the period used, or of a run whose day + 1 is in the period: two
            # counts, each an index read (ix_ledger_history_key, ix_ledger_history_run), instead of one scan
            early_h = (h.c.at < since_p, h.c.at >= since_wide, h.c.kind.in_(kinds),
                       h.c.state.in_(["sent", "accepted", "rejected"]))
            if conn.execute(sa.select(sa.func.count()).select_from(h).where(
                    *early_h, sa.tuple_(h.c.kind, h.c.natural_key).in_(
                        sa.select(key_t.c.kind, key_t.c.natural_key)))).scalar_one():
                return False
            return not conn.execute(sa.select(sa.func.count()).select_from(h).where(
                *early_h, h.c.run_key.in_(_run_keys(_out_day_patterns(p))))).scalar_one()
        finally:
            for t in (id_t, key_t):
                t.drop(conn)


def backlog_facts(engine: sa.Engine, wide_runs: pd.DataFrame, kinds: tuple[str, ...],
                  cut: dt.datetime) -> facts.Facts:
    """Facts holding only the rows (in the wide window's runs) of records ever quarantined there: all that
    :func:`creditflow.reports.build._backlog` reads (a record never quarantined is never in the backlog)."""
    o, std = wh.outcomes, wh.standardised
    with engine.begin() as conn:
        run_t = _temp(conn, ["run_key", "kind"], list(zip(wide_runs["run_key"], wide_runs["kind"], strict=True)))
        try:
            ever = [(str(r),) for (r,) in conn.execute(
                sa.select(o.c.record_id).select_from(
                    o.join(run_t, sa.and_(run_t.c.run_key == o.c.run_key, run_t.c.kind == o.c.kind)))
                .where(o.c.outcome == "quarantined", o.c.kind.in_(kinds)).distinct())]
            id_t = _temp(conn, ["record_id"], ever)
            try:
                q = (sa.select(o.c.run_key, o.c.record_id, o.c.kind, o.c.outcome, o.c.duplicate_of)
                     .select_from(o.join(run_t, sa.and_(run_t.c.run_key == o.c.run_key, run_t.c.kind == o.c.kind))
                                  .join(std, sa.and_(std.c.run_key == o.c.run_key, std.c.record_id == o.c.record_id,
                                                     std.c.kind == o.c.kind)))
                     .where(o.c.kind.in_(kinds), o.c.record_id.in_(sa.select(id_t.c.record_id))))
                rows = facts._read(conn, q, ["run_key", "record_id", "kind", "outcome", "duplicate_of"])
            finally:
                id_t.drop(conn)
        finally:
            run_t.drop(conn)
    rows = rows.merge(wide_runs[["run_key", "kind", "day", "written_at"]], on=["run_key", "kind"], how="inner")
    rows = rows.sort_values(["record_id", "day", "run_key"], kind="stable").reset_index(drop=True)
    empty = pd.DataFrame()
    return facts.Facts(cut, (wide_runs["day"].min(), cut.date()), wide_runs, rows, empty, empty, empty, empty, empty)


def rejected_findings(engine: sa.Engine, wide_runs: pd.DataFrame, kinds: tuple[str, ...]) -> pd.DataFrame:
    """The PLATFORM_REJECTED error findings of the wide window's runs, in the order :func:`facts.load` reads
    them (chunks of the sorted run keys)."""
    f = wh.findings
    frames = []
    with engine.connect() as conn:
        for chunk in facts._chunks(sorted(wide_runs["run_key"].unique().tolist())):
            frames.append(facts._read(conn, sa.select(f.c.run_key, f.c.record_id, f.c.field, f.c.rule_id,
                                                      f.c.message_zh, f.c.detail)
                                      .where(f.c.run_key.in_(chunk), f.c.severity == "error", f.c.kind.in_(kinds),
                                             f.c.rule_id == "PLATFORM_REJECTED"),
                                      ["run_key", "record_id", "field", "rule_id", "message_zh", "detail"]))
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(
        columns=["run_key", "record_id", "field", "rule_id", "message_zh", "detail"])
