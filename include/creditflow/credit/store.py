"""Shared pieces of the credit loop: the event log, dates, JSON, and the case-system party words."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

import sqlalchemy as sa

from creditflow.common import mask_text
from creditflow.core import normalize as nz
from creditflow.core import warehouse as wh

SYSTEM = "system"  # the actor of what the DAGs do
PARTY_TYPE_OF_CASE = {"ENT": "法人及非法人组织", "IND": "个体工商户", "PER": "自然人"}


class CreditError(RuntimeError):
    """An action that does not fit the subject's state (shown to the user in Chinese)."""


class InFlight(CreditError):
    """The subject's previous publication still waits for the platform's receipt: a new operation on it
    must wait. The DAGs skip such a subject (logged, counted) and take it up on a later run."""


def iso(day: dt.date | None) -> str | None:
    return day.isoformat() if day else None


def as_date(value: Any) -> dt.date | None:
    if value in (None, ""):
        return None
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    return dt.date.fromisoformat(str(value)[:10])


def dumps(value: Any) -> str:
    return mask_text(json.dumps(value, ensure_ascii=False, sort_keys=True, default=str))


def event(conn: sa.Connection, subject_id: str, action: str, actor: str, on_date: dt.date, *,
          from_state: str | None = None, to_state: str | None = None, document_id: str | None = None,
          basis: str | None = None, comment: str | None = None) -> None:
    """One transition or act on a subject (case, penalty, request): who, when, document, basis."""
    conn.execute(wh.credit_event.insert().values(
        subject_id=subject_id, action=action, from_state=from_state, to_state=to_state, actor=actor,
        on_date=on_date.isoformat(), document_id=document_id, basis=mask_text(basis) if basis else None,
        comment=mask_text(comment) if comment else None, at=wh.now_iso()))


def events(conn: sa.Connection, subject_id: str) -> list[dict[str, Any]]:
    e = wh.credit_event
    return [dict(r) for r in conn.execute(sa.select(e).where(e.c.subject_id == subject_id).order_by(e.c.id)).mappings()]


def party_key_of(party_type: str, uscc: Any, id_no: Any) -> str | None:
    """The party's code: the USCC of an organisation, the ID number of a natural person (normalised)."""
    return nz.normalize_code(id_no if party_type == "自然人" else uscc)


def natural_key(doc_no: Any, party_key: str | None) -> str | None:
    """The 双公示 natural key (normalised 文号 | party code), as the ledger and the platform key records."""
    doc = nz.doc_no_key(doc_no)
    return f"{doc}|{party_key}" if doc and party_key else None
