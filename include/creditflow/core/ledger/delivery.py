"""Sending ``cf_ledger``'s pending batches to the credit platform and recording its receipts.

One loop for every capability that publishes through the ledger (双公示 stage 7, the credit lifecycle's
listings and withdrawals): a batch is submitted with its stored ``batch_key`` as the HTTP
``Idempotency-Key`` and the ledger rows turn ``sent`` in one transaction; receipts turn them ``accepted``
or ``rejected`` one batch per transaction, each with a ``cf_ledger_history`` row; the row's ``message``
becomes the platform's text. Each of those transactions runs under the ledger lock (never the platform
call). The callers differ only in which rows they own (``where``), the run key written to the history and
what a rejection also does; those are parameters. The reason sent with a withdrawal comes from the row's
columns (:func:`withdraw_reason`).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable
from typing import Any

import sqlalchemy as sa

from creditflow.core import pii
from creditflow.core import warehouse as wh
from creditflow.core.ledger.lock import ledger_lock
from creditflow.core.ledger.queue import CREDIT

Row = dict[str, Any]


def _rows(engine: sa.Engine, kind: str, state: str, where: Any, order: tuple[Any, ...]) -> list[Row]:
    L = wh.ledger
    q = sa.select(L).where(L.c.kind == kind, L.c.state == state)
    if where is not None:
        q = q.where(where)
    with engine.connect() as conn:
        return [dict(r) for r in conn.execute(q.order_by(*order)).mappings()]


#: What the platform is told when a 双公示 withdrawal says nothing else.
REVOKED_REASON = "原行政决定已撤销或变更"
REPLACED_REASON = "该记录为文书号有误的重复报送，已由执法案件系统原件替换"


def withdraw_reason(row: Row) -> str:
    """The reason sent with a withdrawal: a replaced copy's, the credit capability's (publicity ended,
    repaired, listing annulled …), else a revoked or changed decision's."""
    if row.get("replaces_record_id"):
        return REPLACED_REASON
    if row.get("origin") == CREDIT and str(row.get("reason") or "").strip():
        return str(row["reason"]).strip()
    return REVOKED_REASON


def send_pending(engine: sa.Engine, client: Any, kind: str, *, reason: Callable[[Row], str] = withdraw_reason,
                 history_run_key: Callable[[Row], str], where: Any = None,
                 on_batch: Callable[[str, list[Row], dict[str, Any]], None] | None = None) -> dict[str, int]:
    """Submit every pending batch of ``kind`` (any run's, restricted by ``where``); returns batch and
    record counts. ``reason(row)`` goes with each withdrawal; ``on_batch`` is told each platform answer."""
    L = wh.ledger
    pending = _rows(engine, kind, "pending", where, (L.c.batch_key, L.c.batch_seq))
    batches: dict[str, list[Row]] = defaultdict(list)
    for row in pending:
        batches[row["batch_key"]].append(row)
    for batch_key, rows in batches.items():
        # Opened right before it leaves for the platform (#19 §3): the clear values live only in this call.
        items = [{"op": r["op"], "data": pii.open_json(r["pending_payload"]),
                  **({"reason": reason(r)} if r["op"] == "withdraw" else {})} for r in rows]
        answer = client.submit_batch(kind, items, batch_key)
        now = wh.now_iso()
        with ledger_lock(engine), engine.begin() as conn:
            # Only the rows this call turns from pending to sent get a history row: a second sender that
            # submitted the same batch (same Idempotency-Key, a replay) finds them sent and records nothing.
            mine = [r for r in rows if conn.execute(L.update().where(
                L.c.kind == kind, L.c.natural_key == r["natural_key"], L.c.batch_key == batch_key,
                L.c.state == "pending").values(state="sent", batch_id=answer["batch_id"], updated_at=now)).rowcount]
            if mine:
                conn.execute(wh.ledger_history.insert(), [
                    {"kind": kind, "natural_key": r["natural_key"], "record_id": r["owner_record_id"], "op": r["op"],
                     "state": "sent", "content_hash": r["pending_hash"], "batch_id": answer["batch_id"],
                     "run_key": history_run_key(r), "at": now} for r in mine])
        if on_batch is not None:
            on_batch(batch_key, rows, answer)
    return {"batches": len(batches), "records": len(pending)}


def collect_receipts(engine: sa.Engine, client: Any, kind: str, *, where: Any = None,
                     on_rejected: Callable[[sa.Connection, Row, dict[str, Any]], None] | None = None
                     ) -> dict[str, int]:
    """Per-record answers of sent batches of ``kind``; counts incl. ``still_processing`` (0 = done).

    ``on_rejected`` runs in the receipt's transaction for each rejected row."""
    L = wh.ledger
    sent = _rows(engine, kind, "sent", where, (L.c.batch_id, L.c.batch_seq))
    by_batch: dict[str, list[Row]] = defaultdict(list)
    for row in sent:
        by_batch[row["batch_id"]].append(row)
    counts = {"accepted": 0, "rejected": 0, "still_processing": 0}
    for batch_id, rows in by_batch.items():
        status = client.batch_status(batch_id)
        if status["status"] != "done":
            counts["still_processing"] += len(rows)
            continue
        receipts = {int(x["seq"]): x for x in status["receipts"]}
        now = wh.now_iso()
        with ledger_lock(engine), engine.begin() as conn:
            for row in rows:
                rc = receipts.get(int(row["batch_seq"]))
                if rc is None:
                    raise RuntimeError(f"batch {batch_id} has no receipt for seq {row['batch_seq']}")
                # Only the row as it was read (still sent, in this batch): a slower collector holding an old
                # receipt never overwrites a newer operation queued or sent since.
                key = ((L.c.kind == kind) & (L.c.natural_key == row["natural_key"]) & (L.c.state == "sent")
                       & (L.c.batch_id == batch_id))
                platform_text = {"message": rc.get("message")}  # the platform's words only
                if rc["status"] == "accepted":
                    changed = conn.execute(L.update().where(key).values(
                        state="accepted", accepted_hash=row["pending_hash"],
                        platform_status="withdrawn" if row["op"] == "withdraw" else "published",
                        platform_version=rc.get("record_version"), code=rc["code"], **platform_text,
                        first_accepted_at=row["first_accepted_at"] or now, updated_at=now)).rowcount
                else:
                    changed = conn.execute(L.update().where(key).values(
                        state="rejected", code=rc["code"], **platform_text, updated_at=now)).rowcount
                if not changed:
                    continue  # another collector recorded this receipt, or the row has moved on
                counts["accepted" if rc["status"] == "accepted" else "rejected"] += 1
                if rc["status"] != "accepted" and on_rejected is not None:
                    on_rejected(conn, row, rc)
                conn.execute(wh.ledger_history.insert().values(
                    kind=kind, natural_key=row["natural_key"], record_id=row["owner_record_id"], op=row["op"],
                    state=rc["status"], content_hash=row["pending_hash"], batch_id=batch_id, code=rc["code"],
                    run_key=row["run_key"], at=now))
    return counts
