"""Stage 7 — upload pending ledger rows once, collect receipts, quarantine platform rejections."""

from __future__ import annotations

import json
from collections import defaultdict
from typing import Any

import sqlalchemy as sa

from creditflow.core import warehouse as wh
from creditflow.core.platform_client import PlatformClient
from creditflow.reporting.pipeline.common import (
    Run,
    log,
)

# --- 7. upload ---------------------------------------------------------------------------------------


def upload(run: Run, engine: sa.Engine, client: PlatformClient) -> dict[str, int]:
    """Send every pending ledger batch of this kind (any run's), committing the ledger around each."""
    L = wh.ledger
    with engine.connect() as conn:
        pending = [dict(r) for r in conn.execute(sa.select(L).where(L.c.kind == run.kind, L.c.state == "pending")
                                                 .order_by(L.c.batch_key, L.c.batch_seq)).mappings()]
    batches: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for row in pending:
        batches[row["batch_key"]].append(row)
    sent = 0
    for batch_key, rows in batches.items():
        items = [{"op": r["op"], "data": json.loads(r["pending_payload"]),
                  **({"reason": _withdraw_reason(r)} if r["op"] == "withdraw" else {})} for r in rows]
        answer = client.submit_batch(run.kind, items, batch_key)
        now = wh.now_iso()
        with engine.begin() as conn:
            conn.execute(L.update().where(L.c.batch_key == batch_key, L.c.state == "pending")
                         .values(state="sent", batch_id=answer["batch_id"], updated_at=now))
            conn.execute(wh.ledger_history.insert(), [
                {"kind": run.kind, "natural_key": r["natural_key"], "record_id": r["owner_record_id"], "op": r["op"],
                 "state": "sent", "content_hash": r["pending_hash"], "batch_id": answer["batch_id"],
                 "run_key": run.run_key, "at": now} for r in rows])
        sent += len(rows)
        log.info("batch %s: %d %s records sent (platform batch %s%s)", batch_key[:12], len(rows), run.kind,
                 answer["batch_id"], ", replayed" if answer.get("replayed") else "")
    return {"batches": len(batches), "records": sent, "requests": client.stats["requests"],
            "retries": client.stats["retries"]}


def _withdraw_reason(row: dict[str, Any]) -> str:
    message = str(row.get("message") or "")
    if message.startswith("replaced_by:"):
        return "该记录为文书号有误的重复报送，已由执法案件系统原件替换"
    if message.startswith("credit:") and message[len("credit:"):].strip():
        return message[len("credit:"):].strip()  # queued by the credit capability: publicity ended, repaired
    return "原行政决定已撤销或变更"


def collect_receipts(run: Run, engine: sa.Engine, client: PlatformClient) -> dict[str, int]:
    """Per-record results of sent batches; returns counts incl. ``still_processing`` (0 = done)."""
    L = wh.ledger
    with engine.connect() as conn:
        sent = [dict(r) for r in conn.execute(sa.select(L).where(L.c.kind == run.kind, L.c.state == "sent")
                                              .order_by(L.c.batch_id, L.c.batch_seq)).mappings()]
    by_batch: dict[str, list[dict[str, Any]]] = defaultdict(list)
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
        with engine.begin() as conn:
            for row in rows:
                rc = receipts.get(int(row["batch_seq"]))
                if rc is None:
                    raise RuntimeError(f"batch {batch_id} has no receipt for seq {row['batch_seq']}")
                key = (L.c.kind == run.kind) & (L.c.natural_key == row["natural_key"])
                if rc["status"] == "accepted":
                    counts["accepted"] += 1
                    conn.execute(L.update().where(key).values(
                        state="accepted", accepted_hash=row["pending_hash"],
                        platform_status="withdrawn" if row["op"] == "withdraw" else "published",
                        platform_version=rc.get("record_version"), code=rc["code"], message=rc["message"],
                        first_accepted_at=row["first_accepted_at"] or now, updated_at=now))
                else:
                    counts["rejected"] += 1
                    conn.execute(L.update().where(key).values(state="rejected", code=rc["code"],
                                                              message=rc["message"], updated_at=now))
                    _quarantine_rejected(conn, row, rc)
                conn.execute(wh.ledger_history.insert().values(
                    kind=run.kind, natural_key=row["natural_key"], record_id=row["owner_record_id"], op=row["op"],
                    state=rc["status"], content_hash=row["pending_hash"], batch_id=batch_id, code=rc["code"],
                    run_key=row["run_key"], at=now))
    return counts


def _quarantine_rejected(conn: sa.Connection, row: dict[str, Any], rc: dict[str, Any]) -> None:
    """A platform rejection sends the record back to quarantine in the run that sent it."""
    from creditflow.reporting.validation import message_zh

    run_key, rid = row["run_key"], row["owner_record_id"]
    conn.execute(wh.outcomes.update().where(wh.outcomes.c.run_key == run_key, wh.outcomes.c.record_id == rid)
                 .values(outcome="quarantined", detail=f"PLATFORM_REJECTED:{rc['code']}"))
    conn.execute(wh.findings.delete().where(wh.findings.c.run_key == run_key, wh.findings.c.record_id == rid,
                                            wh.findings.c.rule_id == "PLATFORM_REJECTED"))
    detail = f"{rc['code']} {rc['message']}"
    conn.execute(wh.findings.insert().values(run_key=run_key, record_id=rid, kind=row["kind"], field="*",
                                             rule_id="PLATFORM_REJECTED",
                                             severity="error", message_zh=message_zh("PLATFORM_REJECTED", "*",
                                                                                     detail=detail),
                                             detail=detail))


def flush_inflight(run: Run, engine: sa.Engine, client: PlatformClient, wait: float = 30.0,
                   poll: float = 0.5) -> dict[str, int]:
    """Before deciding anything: resend batches a crashed run left pending and collect their receipts."""
    import time

    sent = upload(run, engine, client)
    deadline = time.monotonic() + wait
    while True:
        got = collect_receipts(run, engine, client)
        if got["still_processing"] == 0 or time.monotonic() > deadline:
            return {"resent": sent["records"], **got}
        time.sleep(poll)


