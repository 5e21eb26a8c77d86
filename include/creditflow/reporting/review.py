"""层层审核: the review queue and reviewers' decisions (who, when, decision, comment).

A decision is recorded per (record, content version, operation, level). The pipeline reads them on its
next run: a record goes out once every required level is approved (auto levels count as approved);
``reject`` sends it to quarantine, ``duplicate`` (for a suspected near duplicate) records it as a
duplicate of the related record. Decisions are append-only; a level cannot be decided twice.
"""

from __future__ import annotations

import json
from typing import Any

import sqlalchemy as sa

from creditflow.common import mask_id
from creditflow.core import warehouse as wh

DECISIONS = ("approve", "reject", "duplicate")


class ReviewError(ValueError):
    pass


def pending(engine: sa.Engine, kind: str | None = None, limit: int = 500) -> list[dict[str, Any]]:
    """Pending reviews with the levels already decided, the next level due, and a masked preview."""
    r, d = wh.reviews, wh.review_decisions
    q = sa.select(r).where(r.c.status == "pending").order_by(r.c.due_date, r.c.record_id).limit(limit)
    if kind:
        q = q.where(r.c.kind == kind)
    with engine.connect() as conn:
        rows = [dict(x) for x in conn.execute(q).mappings()]
        for row in rows:
            given = conn.execute(sa.select(d.c.level, d.c.decision, d.c.reviewer, d.c.decided_at, d.c.comment).where(
                d.c.record_id == row["record_id"], d.c.content_hash == row["content_hash"], d.c.op == row["op"])
                .order_by(d.c.level)).mappings().all()
            row["decisions"] = [dict(g) for g in given]
            required = [int(x) for x in row["levels_required"].split(",")]
            done = {g["level"] for g in given}
            row["next_level"] = next((lv for lv in required if lv not in done), None)
            payload = conn.execute(sa.select(wh.standardised.c.payload).where(
                wh.standardised.c.record_id == row["record_id"],
                wh.standardised.c.content_hash == row["content_hash"]).limit(1)).scalar()
            row["preview"] = masked_preview(json.loads(payload)) if payload else {}
    return rows


def masked_preview(payload: dict[str, Any]) -> dict[str, Any]:
    """The record as a reviewer sees it: personal ID numbers masked."""
    return {k: (mask_id(v) if k.endswith("_ZJHM") and v else v) for k, v in payload.items()}


def record_decision(engine: sa.Engine, record_id: str, content_hash: str, op: str, level: int, decision: str,
                    reviewer: str, comment: str = "") -> dict[str, Any]:
    if decision not in DECISIONS:
        raise ReviewError(f"decision must be one of {DECISIONS}")
    if not reviewer.strip():
        raise ReviewError("reviewer is required")
    r, d = wh.reviews, wh.review_decisions
    with engine.begin() as conn:
        row = conn.execute(sa.select(r).where(r.c.record_id == record_id, r.c.content_hash == content_hash,
                                              r.c.op == op)).mappings().first()
        if row is None:
            raise ReviewError("no such review")
        if row["status"] != "pending":
            raise ReviewError(f"review is already {row['status']}")
        required = [int(x) for x in row["levels_required"].split(",")]
        if level not in required:
            raise ReviewError(f"level {level} is not required for this record (required: {required})")
        done = {x[0] for x in conn.execute(sa.select(d.c.level).where(
            d.c.record_id == record_id, d.c.content_hash == content_hash, d.c.op == op))}
        lower = [lv for lv in required if lv < level and lv not in done]
        if lower and decision == "approve":
            raise ReviewError(f"level {lower[0]} must decide first (层层审核)")
        if level in done:
            raise ReviewError(f"level {level} has already decided")
        conn.execute(d.insert().values(record_id=record_id, content_hash=content_hash, op=op, level=level,
                                       decision=decision, reviewer=reviewer.strip(), comment=comment,
                                       decided_at=wh.now_iso()))
        if decision in ("reject", "duplicate"):
            status = "rejected"
        elif set(required) <= done | {level}:
            status = "approved"
        else:
            status = "pending"
        conn.execute(r.update().where(r.c.record_id == record_id, r.c.content_hash == content_hash, r.c.op == op)
                     .values(status=status))
    return {"record_id": record_id, "level": level, "decision": decision, "status": status}


def summary_markdown(engine: sa.Engine, level: int) -> str:
    """What waits at ``level``, for the batch sign-off approval page: counts by kind and reason, no records."""
    from collections import Counter

    rows = [r for r in pending(engine, limit=100_000) if r["next_level"] == level]
    counts = Counter((r["kind"], r["reason"]) for r in rows)
    lines = [f"| {kind} | {reason} | {n} |" for (kind, reason), n in sorted(counts.items())]
    soonest = min((r["due_date"] for r in rows if r["due_date"]), default="—")
    return "\n".join([f"第{level}级待审核记录 {len(rows)} 条，最早截止日期 {soonest}。", "",
                      "| 类别 | 原因 | 条数 |", "|---|---|---|", *lines, "",
                      "疑似重复（near_duplicate）不参与批量签署，请逐条审核。"])


def sign_off(engine: sa.Engine, level: int, reviewer: str, kind: str | None = None,
             reasons: tuple[str, ...] | None = None, comment: str = "批量审核通过") -> int:
    """Batch sign-off: approve every pending review whose next level is ``level`` (optionally only some
    reasons). Near duplicates are never batch-approved: they need an individual decision."""
    n = 0
    for row in pending(engine, kind, limit=100_000):
        if row["next_level"] != level or row["reason"] == "near_duplicate":
            continue
        if reasons and row["reason"] not in reasons:
            continue
        record_decision(engine, row["record_id"], row["content_hash"], row["op"], level, "approve", reviewer, comment)
        n += 1
    return n
