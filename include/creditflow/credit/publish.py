"""Publications on the shared credit platform, exactly once: the 双公示 ledger's approach, reused.

Listings, their removals and restorations go out as kind ``dishonest_list`` (a record per 列入决定书:
natural key = normalised 决定书文号 | party code); the end of a penalty's publicity and an approved
credit repair go out as a ``withdraw`` of the penalty record the 双公示 pipeline published (kind
``penalty``). Each operation is first written to ``cf_ledger`` as ``pending`` with its exact payload, a
per-record idempotency key and a deterministic batch key (the HTTP ``Idempotency-Key``), in the same
transaction as the decision that caused it; :func:`send` then submits pending batches and marks them
``sent``; :func:`receipts` records the platform's answer. A crash anywhere is resumed by sending the
identical batch again: the platform replays it instead of applying it twice.

Rows this capability queues carry ``origin = 'credit'`` and their ``reason`` (sent to the platform with a
withdrawal); :mod:`creditflow.core.ledger` writes them, under the ledger lock.
"""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

import sqlalchemy as sa

from creditflow.core import ledger
from creditflow.core import warehouse as wh
from creditflow.core.platform_client import PlatformClient
from creditflow.credit.store import SYSTEM, event

LIST_KIND = "dishonest_list"
KINDS = (LIST_KIND, "penalty")  # what this capability sends: listings, and withdrawals of published penalties
INFLIGHT = ledger.IN_FLIGHT
content_hash, in_flight, ledger_row = ledger.content_hash, ledger.in_flight, ledger.ledger_row  # kept for callers


def list_payload(case: dict[str, Any], decision_doc_no: str, list_start: str, list_end: str) -> dict[str, Any]:
    """The listing as the platform receives it (field codes ``SX_*`` [local]: no public standard yet), in clear:
    the ledger seals its personal fields when it is queued (``creditflow.core.pii.seal_payload``) and opens
    them to send it; the content hash is over this clear payload."""
    from creditflow.credit import rules
    from creditflow.credit.store import is_natural, opened

    case = opened(case)  # a stored case row, or one already opened
    sit = rules.situation(case["situation_id"])
    natural = is_natural(case["party_type"])
    return {"SX_XDR_MC": case["party_name"], "SX_XDR_LB": case["party_type"],
            "SX_XDR_SHXYM": None if natural else case["party_code"],
            "SX_XDR_ZJHM": case["party_code"] if natural else None,
            "SX_MDMC": rules.listing()["list_name_zh"], "SX_WSH": decision_doc_no, "SX_LRYY": case["facts"],
            "SX_LRQX": sit.label, "SX_LRYJ": case["basis"], "SX_CJCS": "；".join(rules.measures_zh()),
            "SX_LRRQ": list_start, "SX_YCRQ": list_end, "SX_RDJG": case["authority_name"],
            "SX_RDJGDM": case["authority_uscc"]}


def ledger_payload(row: dict[str, Any], kind: str = LIST_KIND) -> dict[str, Any]:
    """The clear payload of a ledger row (its personal fields opened), to queue a withdrawal or a correction of
    it: what :func:`queue` is given is always clear."""
    from creditflow.core.pii import open_payload

    return open_payload(kind, json.loads(row["pending_payload"]))


def queue(conn: sa.Connection, kind: str, items: list[dict[str, Any]], run_key: str) -> int:
    """Write pending operations (``natural_key``, ``op``, ``payload``, ``owner``, ``party_key``, ``doc_key``,
    ``decision_date``, ``reason`` and, when the caller decided on a ledger row it read, ``expected``: that
    row, or None for none) in one deterministic batch, under the ledger lock; returns how many were queued.

    An operation on a record whose previous operation is still in flight, or whose row changed since the
    caller read it, is refused (:class:`creditflow.core.ledger.LedgerConflict`, a ValueError) before
    anything is written: the caller waits for its receipt first (:func:`in_flight` asks without failing).
    """
    ops = []
    for item in items:
        h = content_hash(item["payload"])
        ops.append(ledger.Operation(
            natural_key=item["natural_key"], op=item["op"], record_id=item["owner"],
            payload=json.dumps(item["payload"], ensure_ascii=False, sort_keys=True), content_hash=h,
            party_key=item["party_key"], doc_key=item["doc_key"], decision_date=item["decision_date"], body_hash=h,
            reason=item["reason"], expected=item.get("expected", ledger.UNCHECKED)))
    return ledger.queue_credit(conn, kind, run_key, ops, wh.now_iso())


def _mine(kind: str) -> Any:
    L = wh.ledger
    return L.c.kind == kind if kind == LIST_KIND else sa.and_(L.c.kind == kind, L.c.origin == ledger.CREDIT)


def send(engine: sa.Engine, client: PlatformClient, kind: str) -> dict[str, int]:
    """Submit every pending batch of this capability's operations of ``kind`` (any run's)."""
    return ledger.send_pending(engine, client, kind, where=_mine(kind), history_run_key=lambda r: str(r["run_key"]))


def receipts(engine: sa.Engine, client: PlatformClient, kind: str) -> dict[str, int]:
    """Per-record answers of sent batches; ``still_processing`` 0 means done. A row keeps its ``origin`` and
    ``reason``; a rejected one's ``message`` is the platform's text (the alerts list it)."""
    return ledger.collect_receipts(engine, client, kind, where=_mine(kind))


def send_all(engine: sa.Engine, client: PlatformClient) -> dict[str, dict[str, int]]:
    """Submit every pending batch of both kinds (any run's, either credit DAG's)."""
    return {kind: send(engine, client, kind) for kind in KINDS}


def collect(engine: sa.Engine, client: PlatformClient) -> dict[str, Any]:
    """One round of receipts for both kinds. ``still_processing`` 0 means nothing this capability sent
    waits for an answer any more; then the listings the platform accepted become 已公示 (``published``)."""
    got = {kind: receipts(engine, client, kind) for kind in KINDS}
    waiting = sum(g["still_processing"] for g in got.values())
    return {"receipts": got, "still_processing": waiting, "published": 0 if waiting else mark_published(engine)}


def deliver(engine: sa.Engine, client: PlatformClient, wait: float = 30.0, poll: float = 0.5) -> dict[str, Any]:
    """Send both kinds and wait (bounded) for their receipts; then mark listings the platform accepted.

    Safe to run from two places at once (both credit DAGs, the 双公示 upload): a batch goes out under its
    stored key, so the platform applies it once and replays it to the second sender."""
    import time

    out: dict[str, Any] = dict(send_all(engine, client))
    deadline = time.monotonic() + wait
    while True:
        got = collect(engine, client)
        if got["still_processing"] == 0 or time.monotonic() > deadline:
            break
        time.sleep(poll)
    out["receipts"] = got["receipts"]
    out["still_processing"] = got["still_processing"]
    out["published"] = got["published"] if got["still_processing"] == 0 else mark_published(engine)
    return out


def mark_published(engine: sa.Engine) -> int:
    """Cases decided (``listed``) whose publication the platform accepted become ``published``."""
    from creditflow.common import TZ

    c, L = wh.credit_case, wh.ledger
    q = (sa.select(c.c.case_id, L.c.first_accepted_at, L.c.updated_at)
         .join(L, sa.and_(L.c.kind == LIST_KIND, L.c.natural_key == c.c.natural_key))
         .where(c.c.state == "listed", L.c.state == "accepted", L.c.platform_status == "published"))
    n = 0
    with engine.begin() as conn:
        for case_id, first, updated in conn.execute(q).all():
            day = dt.datetime.fromisoformat(str(updated or first)).astimezone(TZ).date()
            done = conn.execute(c.update().where(c.c.case_id == case_id, c.c.state == "listed").values(
                state="published", published_on=day.isoformat(), updated_at=wh.now_iso()))
            if done.rowcount != 1:  # another delivery (the other credit DAG) marked it in the meantime
                continue
            event(conn, case_id, "published", SYSTEM, day, from_state="listed", to_state="published",
                  basis="全国信用信息共享平台已接收（台账 cf_ledger）")
            n += 1
    return n
