"""Queueing operations: a ledger row turns ``pending`` with its exact payload, idempotency key and batch.

Both capabilities queue here — the 双公示 pipeline (``decide``: creates, 更正, withdrawals of revoked
decisions and of replaced copies) and the credit capability (listings of the 严重失信名单 and withdrawals of
published penalties when their publicity ends or is repaired). What a row means is in its columns, never
in ``message`` (which carries only the platform's text): ``origin`` (who queued the operation),
``replaces_record_id`` (the original that replaces a withdrawn copy), ``reason`` (sent with a credit
withdrawal) and ``op_day`` (the data day of the run that queued it).

Every queue runs under the ledger lock (:func:`creditflow.core.ledger.lock.guard`) and re-reads the rows
it writes: an operation on a record whose previous operation is still in flight, or whose row is no longer
the one the caller decided on (``Operation.expected``), is refused before anything is written
(:class:`~creditflow.core.ledger.lock.LedgerConflict`).
"""

from __future__ import annotations

import hashlib
import itertools
import json
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa

from creditflow.common import mask_text
from creditflow.core import pii
from creditflow.core import warehouse as wh
from creditflow.core.ledger.lock import LedgerConflict, guard

Row = Mapping[str, Any]

SGS, CREDIT = "sgs", "credit"  # origin: the 双公示 pipeline, the credit capability
IN_FLIGHT = ("pending", "sent")
# What identifies the state of a row a caller decided on: any write since changes one of these.
VERSION = ("state", "op", "pending_hash", "accepted_hash", "platform_status", "batch_key", "batch_id", "run_key",
           "owner_record_id", "updated_at")
_DAY = re.compile(r"\d{4}-\d{2}-\d{2}")


class _Unchecked:
    def __repr__(self) -> str:
        return "UNCHECKED"


#: ``Operation.expected`` when the caller read no row to decide on: any row not in flight will do.
UNCHECKED: Any = _Unchecked()


@dataclass(frozen=True)
class Operation:
    """One operation to queue, as plain data.

    ``expected`` is the ledger row the caller decided on (``None``: it found none) or :data:`UNCHECKED`."""

    natural_key: str
    op: str  # create | correct | withdraw
    record_id: str  # the record (or credit case / penalty) that owns the row
    payload: str  # the exact JSON sent
    content_hash: str
    party_key: str | None = None
    doc_key: str | None = None
    decision_date: str | None = None
    body_hash: str | None = None
    replaces_record_id: str | None = None
    reason: str | None = None
    expected: Any = UNCHECKED


def op_day(run_key: str | None) -> str | None:
    """The data day of a run key (``sgs_penalty|2026-11-03``, ``credit_list|2026-11-03``,
    ``credit_page|2026-11-03``), None when it names none."""
    m = _DAY.search(run_key or "")
    return m.group(0) if m else None


def idempotency_key(kind: str, natural_key: str, op: str, content_hash: str) -> str:
    return hashlib.sha256(f"{kind}|{natural_key}|{op}|{content_hash}".encode()).hexdigest()[:40]


def content_hash(payload: Mapping[str, Any]) -> str:
    """The credit capability's hash of a payload (empty fields left out, keys sorted), always of the clear values:
    a payload built from a stored (sealed) one hashes as its clear form (#19 §3), never as a random ciphertext."""
    clear = pii.open_payload("", payload)
    canonical = json.dumps({k: v for k, v in clear.items() if v not in (None, "")}, sort_keys=True,
                           ensure_ascii=False)
    return hashlib.sha256(canonical.encode()).hexdigest()


def queue_sgs(conn: sa.Connection, kind: str, run_key: str, ops: Sequence[Operation], now: str,
              batch_size: int = 200) -> int:
    """The 双公示 run's operations → pending, in deterministic batches of ``batch_size`` (so a resend after a
    crash is identical). Returns how many were queued."""
    ordered = sorted(ops, key=lambda o: o.natural_key)
    clash = [a.natural_key for a, b in itertools.pairwise(ordered) if a.natural_key == b.natural_key]
    if clash:  # one platform record, two operations in one run: never send an ambiguous batch
        raise RuntimeError(f"{len(clash)} natural keys with two operations in one run (e.g. {mask_text(clash[0])})")
    entries = []
    for i in range(0, len(ordered), batch_size):
        batch = ordered[i:i + batch_size]
        keys = [idempotency_key(kind, o.natural_key, o.op, o.content_hash) for o in batch]
        batch_key = hashlib.sha256("|".join(keys).encode()).hexdigest()[:40]
        entries += [(o, idem, batch_key, seq) for seq, (o, idem) in enumerate(zip(batch, keys, strict=True))]
    _write(conn, kind, run_key, SGS, entries, now, update_body=True)
    return len(ordered)


def queue_credit(conn: sa.Connection, kind: str, run_key: str, ops: Sequence[Operation], now: str) -> int:
    """The credit capability's operations → pending, in one batch. Its key includes the run and the reasons,
    so that a later operation identical to an earlier one (a listing restored with the payload it was first
    published with) is a new request to the platform, not a replay of the old one."""
    if not ops:
        return 0
    ordered = sorted(ops, key=lambda o: o.natural_key)
    keys = [idempotency_key(kind, o.natural_key, o.op, o.content_hash) for o in ordered]
    reasons = "|".join(o.reason or "" for o in ordered)
    batch_key = hashlib.sha256(f"credit|{run_key}|{'|'.join(keys)}|{reasons}".encode()).hexdigest()[:40]
    _write(conn, kind, run_key, CREDIT, [(o, idem, batch_key, seq) for seq, (o, idem)
                                         in enumerate(zip(ordered, keys, strict=True))], now, update_body=False)
    return len(ordered)


def _current(conn: sa.Connection, kind: str, natural_keys: Iterable[str]) -> dict[str, dict[str, Any]]:
    L = wh.ledger
    keys = sorted(set(natural_keys))
    out: dict[str, dict[str, Any]] = {}
    for i in range(0, len(keys), 500):
        out.update({r["natural_key"]: dict(r) for r in conn.execute(
            sa.select(L).where(L.c.kind == kind, L.c.natural_key.in_(keys[i:i + 500]))).mappings()})
    return out


def _check(kind: str, op: Operation, row: dict[str, Any] | None) -> None:
    if row is not None and row["state"] in IN_FLIGHT:
        raise LedgerConflict(mask_text(f"ledger {kind} {op.natural_key}: an operation is still in flight"))
    if op.expected is UNCHECKED:
        return
    if (row is None) != (op.expected is None) or (
            row is not None and any(row[c] != op.expected.get(c) for c in VERSION)):
        raise LedgerConflict(mask_text(f"ledger {kind} {op.natural_key}: changed since it was read"))


def _write(conn: sa.Connection, kind: str, run_key: str, origin: str,
           entries: list[tuple[Operation, str, str, int]], now: str, *, update_body: bool) -> None:
    """All or nothing: every row is checked under the lock before the first is written."""
    if not entries:
        return
    guard(conn)
    L = wh.ledger
    current = _current(conn, kind, (o.natural_key for o, _, _, _ in entries))
    for o, _, _, _ in entries:
        _check(kind, o, current.get(o.natural_key))
    day = op_day(run_key)
    ring = pii.keyring()
    updates: list[dict[str, Any]] = []
    inserts: list[dict[str, Any]] = []
    for o, idem, batch_key, seq in entries:
        # Personal fields sealed here, the one writer of the ledger's payloads; the hash and the idempotency
        # key were computed by the caller over the clear payload, so they do not depend on the key (#19 §3).
        values = {"owner_record_id": o.record_id, "party_key": o.party_key, "doc_key": o.doc_key,
                  "decision_date": o.decision_date, "state": "pending", "op": o.op, "pending_hash": o.content_hash,
                  "pending_payload": pii.seal_json(kind, o.payload, ring),
                  "idempotency_key": idem, "batch_key": batch_key, "batch_seq": seq,
                  "batch_id": None, "code": None, "message": None, "run_key": run_key, "updated_at": now,
                  "origin": origin, "replaces_record_id": o.replaces_record_id, "reason": o.reason, "op_day": day}
        if o.natural_key in current:
            if update_body:
                values["body_hash"] = o.body_hash
            updates.append({"_kind": kind, "_natural_key": o.natural_key, **values})
        else:
            inserts.append({"kind": kind, "natural_key": o.natural_key, "body_hash": o.body_hash, **values})
    # Written in one statement per kind of write (executemany), the rows as they were one by one.
    if updates:
        conn.execute(L.update().where(L.c.kind == sa.bindparam("_kind"),
                                      L.c.natural_key == sa.bindparam("_natural_key")), updates)
    if inserts:
        conn.execute(L.insert(), inserts)
    conn.execute(wh.ledger_history.insert(), [
        {"kind": kind, "natural_key": o.natural_key, "record_id": o.record_id, "op": o.op, "state": "pending",
         "content_hash": o.content_hash, "run_key": run_key, "at": now} for o, _, _, _ in entries])


def move_owners(conn: sa.Connection, kind: str, moves: Sequence[tuple[str, str]], now: str) -> int:
    """A better source's record takes over published rows with the same content: ``(natural key, record id)``.
    Only a row still settled (``accepted``) moves; returns how many did."""
    if not moves:
        return 0
    guard(conn)
    L = wh.ledger
    return sum(conn.execute(L.update().where(L.c.kind == kind, L.c.natural_key == nk, L.c.state == "accepted")
                            .values(owner_record_id=rid, updated_at=now)).rowcount for nk, rid in moves)
