"""Stage 7 — upload pending ledger rows once, collect receipts, quarantine platform rejections."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa

from creditflow.core import ledger
from creditflow.core import warehouse as wh
from creditflow.core.platform_client import PlatformClient
from creditflow.reporting.pipeline.common import (
    Run,
    log,
)

# --- 7. upload ---------------------------------------------------------------------------------------


def upload(run: Run, engine: sa.Engine, client: PlatformClient) -> dict[str, int]:
    """Send every pending ledger batch of this kind (any run's), committing the ledger around each."""

    def told(batch_key: str, rows: list[dict[str, Any]], answer: dict[str, Any]) -> None:
        log.info("batch %s: %d %s records sent (platform batch %s%s)", batch_key[:12], len(rows), run.kind,
                 answer["batch_id"], ", replayed" if answer.get("replayed") else "")

    got = ledger.send_pending(engine, client, run.kind, on_batch=told,
                              history_run_key=lambda row: row["run_key"] if _credit(row) else run.run_key)
    return {"batches": got["batches"], "records": got["records"], "requests": client.stats["requests"],
            "retries": client.stats["retries"]}


def collect_receipts(run: Run, engine: sa.Engine, client: PlatformClient, *, own: bool = False) -> dict[str, int]:
    """Per-record results of sent batches of the kind (``own``: only the rows this run queued); returns counts
    incl. ``still_processing`` (0 = done)."""
    where = wh.ledger.c.run_key == run.run_key if own else None
    return ledger.collect_receipts(engine, client, run.kind, where=where, on_rejected=_quarantine_rejected)


def _credit(row: dict[str, Any]) -> bool:
    """Rows of kind penalty the credit capability queued (publicity ended, repaired) share the ledger: whichever
    loop sends or collects them keeps their run key and leaves them out of 双公示 quarantine."""
    return row.get("origin") == ledger.CREDIT


def _quarantine_rejected(conn: sa.Connection, row: dict[str, Any], rc: dict[str, Any]) -> None:
    """A platform rejection sends the record back to quarantine in the run that sent it."""
    from creditflow.reporting.validation import message_zh

    if _credit(row):
        return  # the credit capability's alerts report it (its 【退回】 line)

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
                   poll: float = 0.5, collect: bool = True) -> dict[str, int]:
    """Before deciding anything: resend batches a crashed run left pending and collect their receipts
    (``collect=False``: resend only — a history load deciding early looks for the receipts itself)."""
    import time

    sent = upload(run, engine, client)
    if not collect:
        return {"resent": sent["records"], "accepted": 0, "rejected": 0, "still_processing": 0}
    deadline = time.monotonic() + wait
    while True:
        got = collect_receipts(run, engine, client)
        if got["still_processing"] == 0 or time.monotonic() > deadline:
            return {"resent": sent["records"], **got}
        time.sleep(poll)


