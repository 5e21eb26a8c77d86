"""Rows as a decider reads them before it queues: pass what it read as ``Operation.expected``."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa

from creditflow.core import warehouse as wh
from creditflow.core.ledger.queue import IN_FLIGHT


def ledger_row(conn: sa.Connection, kind: str, natural_key: str | None) -> dict[str, Any] | None:
    if not natural_key:
        return None
    L = wh.ledger
    row = conn.execute(sa.select(L).where(L.c.kind == kind, L.c.natural_key == natural_key)).mappings().first()
    return dict(row) if row else None


def in_flight(conn: sa.Connection, kind: str, natural_key: str | None) -> bool:
    """Whether the record's last operation still waits for the platform (``pending`` or ``sent``): a new one
    must wait for its receipt."""
    row = ledger_row(conn, kind, natural_key)
    return row is not None and row["state"] in IN_FLIGHT
