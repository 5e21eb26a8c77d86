"""The ledger (``cf_ledger`` and ``cf_ledger_history``) as one repository: every write goes through here.

* :mod:`.lock` — the one ledger lock every write runs under (:func:`ledger_lock`, :func:`guard`);
* :mod:`.queue` — operations turning ``pending`` for both capabilities (:func:`queue_sgs`,
  :func:`queue_credit`) and owner moves (:func:`move_owners`), each checked against what the caller read;
* :mod:`.delivery` — pending batches sent to the platform and its receipts (:func:`send_pending`,
  :func:`collect_receipts`);
* :mod:`.reads` — rows as the deciders read them.

Modules elsewhere read the tables freely but never write them (``tests/unit/test_ledger_one_writer.py``).
"""

from __future__ import annotations

from creditflow.core.ledger.delivery import (
    REPLACED_REASON,
    REVOKED_REASON,
    collect_receipts,
    send_pending,
    withdraw_reason,
)
from creditflow.core.ledger.lock import LOCK_NAME, LedgerConflict, guard, held, ledger_lock
from creditflow.core.ledger.queue import (
    CREDIT,
    IN_FLIGHT,
    SGS,
    UNCHECKED,
    Operation,
    content_hash,
    idempotency_key,
    move_owners,
    op_day,
    queue_credit,
    queue_sgs,
)
from creditflow.core.ledger.reads import in_flight, ledger_row

__all__ = ["CREDIT", "IN_FLIGHT", "LOCK_NAME", "REPLACED_REASON", "REVOKED_REASON", "SGS", "UNCHECKED",
           "LedgerConflict", "Operation", "collect_receipts", "content_hash", "guard", "held", "idempotency_key",
           "in_flight", "ledger_lock", "ledger_row", "move_owners", "op_day", "queue_credit", "queue_sgs",
           "send_pending", "withdraw_reason"]
