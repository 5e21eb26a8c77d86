"""What a run of an older day may touch (issue #17.3): never what a later day decided.

A backfill re-runs days the DAG already ran, with today's ledger and review queue. Two rules keep it from
rewriting the later days' work:

* a record whose ledger row was last written by a run of a later day is left as it is — the platform holds
  what that run sent, and an older day's content is never sent over it (outcome ``unchanged``);
* a record a run of a later day already decided (it has an outcome there, or a review that run created)
  is that run's: the older run opens, closes and supersedes none of its reviews and sends nothing for it
  (outcome ``unchanged``, the detail names the later day).

And one rule for every run (:func:`settle_reviews`): a review closes only on the operation and content it
reviewed — the decision of this run about that very ``(record, content, operation)``; a pending review of
other content is *superseded* (never approved or rejected without a reviewer's decision row), and only by
a run of its own day or a later one.
"""

from __future__ import annotations

import re
from typing import Any

import sqlalchemy as sa

from creditflow.core import warehouse as wh
from creditflow.reporting.pipeline.common import Run, _chunks

_DAY = re.compile(r"^(?P<dag>.+)\|(?P<day>\d{4}-\d{2}-\d{2})")


def run_day(run_key: str | None) -> tuple[str, str] | None:
    """``(dag_id, YYYY-MM-DD)`` of a pipeline run key (``<dag_id>|<day>``), None for any other key."""
    m = _DAY.match(run_key or "")
    return (m.group("dag"), m.group("day")) if m else None


def later(run_key: str | None, run: Run) -> bool:
    """Whether ``run_key`` is a run of the same DAG for a later data day than ``run``."""
    other = run_day(run_key)
    return other is not None and other[0] == run.dag_id and other[1] > run.start.date().isoformat()


def day_of(run_key: str | None) -> str:
    day = run_day(run_key)
    return day[1] if day else ""


def newer_records(conn: sa.Connection, run: Run, record_ids: list[str]) -> dict[str, str]:
    """Records a later day's run of the same DAG already decided (an outcome) or queued for review (a
    review it created, any status): record id → the latest such day. Empty for a run of the newest day
    (one index range read of ``cf_outcome`` finds no later run)."""
    o, r = wh.outcomes, wh.reviews
    out: dict[str, str] = {}
    ids = sorted(set(record_ids))
    # The range is a superset (string order; on PostgreSQL the column's collation): later() decides.
    later_keys = [k for (k,) in conn.execute(sa.select(o.c.run_key).where(
        o.c.run_key > run.run_key, o.c.run_key.like(f"{run.dag_id}|%")).distinct()) if later(k, run)]
    for keys in _chunks(sorted(later_keys), 100):
        for chunk in _chunks(ids, 500):
            for rid, key in conn.execute(sa.select(o.c.record_id, o.c.run_key).where(
                    o.c.run_key.in_(keys), o.c.record_id.in_(chunk))):
                out[rid] = max(out.get(rid, ""), day_of(key))
    for chunk in _chunks(ids, 500):
        for rid, created in conn.execute(sa.select(r.c.record_id, r.c.created_run_key).where(
                r.c.record_id.in_(chunk), r.c.kind == run.kind)):
            if later(created, run):
                out[rid] = max(out.get(rid, ""), day_of(created))
    return out


def open_reviews(conn: sa.Connection, kind: str, record_ids: list[str]) -> dict[str, list[dict[str, Any]]]:
    """Reviews of these records a run may still have to close: pending, or not yet acted on by a run."""
    r = wh.reviews
    out: dict[str, list[dict[str, Any]]] = {}
    for chunk in _chunks(sorted(set(record_ids)), 500):
        for x in conn.execute(sa.select(r.c.record_id, r.c.content_hash, r.c.op, r.c.status, r.c.created_run_key,
                                        r.c.applied_run_key).where(
                r.c.record_id.in_(chunk), r.c.kind == kind,
                sa.or_(r.c.status == "pending", r.c.applied_run_key.is_(None)))).mappings():
            out.setdefault(x["record_id"], []).append(dict(x))
    return out


def settle_reviews(conn: sa.Connection, run: Run, rid: str, rows: list[dict[str, Any]],
                   reviewed: tuple[str, str] | None, outcome: str, op: str | None) -> None:
    """Close what this run's decision about ``rid`` settles (the record did not wait for a review).

    ``rows`` are the record's open reviews (:func:`open_reviews`); ``reviewed`` is ``(content_hash, op)``
    of the review this run's decision was about (None: the record did not reach the review gate —
    quarantined by a finding, a duplicate, unchanged). That review, when still pending, is approved only
    when this run sends exactly that operation; its ``applied_run_key`` says which run acted on it. Every
    other review of the record still open — other content, another operation — is superseded (a pending
    one) or marked acted on, if a run of its day or an earlier one created it; never approved or rejected
    without a reviewer's decision row."""
    r = wh.reviews
    for x in rows:
        key = sa.and_(r.c.record_id == rid, r.c.content_hash == x["content_hash"], r.c.op == x["op"])
        values: dict[str, Any] = {}
        if reviewed is not None and (x["content_hash"], x["op"]) == reviewed:
            if x["status"] == "pending" and outcome == "uploaded" and op == reviewed[1]:
                values["status"] = "approved"
        elif later(x["created_run_key"], run):
            continue
        elif x["status"] == "pending":
            values["status"] = "superseded"
        if x["applied_run_key"] is None:
            values["applied_run_key"] = run.run_key
        if values:
            conn.execute(r.update().where(key).values(**values))


def queued_reviews(conn: sa.Connection, record_ids: list[str]) -> set[tuple[str, str, str]]:
    """``(record_id, content_hash, op)`` of every review row of these records (read in one query per 500:
    a first load carries hundreds of records waiting for review into every day)."""
    r = wh.reviews
    found: set[tuple[str, str, str]] = set()
    for chunk in _chunks(sorted(set(record_ids)), 500):
        found |= {(a, b, c) for a, b, c in conn.execute(
            sa.select(r.c.record_id, r.c.content_hash, r.c.op).where(r.c.record_id.in_(chunk)))}
    return found


def supersede_for_new(conn: sa.Connection, run: Run, rid: str) -> None:
    """A new version of the record is queued for review: its older pending reviews are superseded (never
    one created by a later day's run — :func:`newer_reviews` keeps such records out of the queue)."""
    r = wh.reviews
    for h, op, created in conn.execute(sa.select(r.c.content_hash, r.c.op, r.c.created_run_key).where(
            r.c.record_id == rid, r.c.status == "pending")).all():
        if not later(created, run):
            conn.execute(r.update().where(r.c.record_id == rid, r.c.content_hash == h, r.c.op == op)
                         .values(status="superseded", applied_run_key=run.run_key))
