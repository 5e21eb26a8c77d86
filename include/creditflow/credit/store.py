"""Shared pieces of the credit loop: the event log, dates, JSON, the case-system party words, and how a party
and a free text are stored (#19 §3, ``docs/pii-columns-credit.md``).

A natural person's ``party_key`` is the blind index of their ID number, their ``party_name`` and ``party_code``
(the ID number) are sealed, and so are the case's ``facts``; free texts (comments, objections, evidence, notes)
are sealed for every party. :func:`stored_party` / :func:`seal_text` write that form; :func:`opened` gives the
clear values back for what may have them (a document for its party, the listing sent to the platform) and
:func:`shown` the masked ones a page prints.
"""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

import sqlalchemy as sa

from creditflow.common import mask_id, mask_name, mask_text
from creditflow.core import normalize as nz
from creditflow.core import pii
from creditflow.core import warehouse as wh

SYSTEM = "system"  # the actor of what the DAGs do
NATURAL_PERSON = "自然人"
PARTY_TYPE_OF_CASE = {"ENT": "法人及非法人组织", "IND": "个体工商户", "PER": NATURAL_PERSON}


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


def seal_text(value: str | None) -> str | None:
    """A free text as stored: ID numbers masked, then sealed (``None``/empty stay as they are)."""
    return pii.seal(mask_text(value)) if value else value


def open_text(value: str | None) -> str | None:
    """A stored free text opened (a clear one from before #19 §3 is returned as it is)."""
    return pii.unseal(value) if value else value


def seal_json(value: Any) -> str:
    return str(pii.seal(dumps(value)))


def open_json(value: str | None, default: Any = None) -> Any:
    return json.loads(open_text(value) or "null") if value else default


def is_natural(party_type: Any) -> bool:
    return party_type == NATURAL_PERSON


def stored_party(party_type: str, code: str | None, name: str | None) -> dict[str, Any]:
    """The columns ``party_key``, ``party_code``, ``party_name`` of a party as the credit tables keep them:
    a natural person's key is the blind index of their (normalised) ID number, the number and the name are
    sealed; an organisation's code and name as they are (``party_code`` NULL)."""
    natural = is_natural(party_type)
    return {"party_key": pii.party_key(code, natural), "party_code": pii.seal(code) if natural else None,
            "party_name": pii.seal(name) if natural else (name or "")}


def opened(row: dict[str, Any]) -> dict[str, Any]:
    """A copy of a case or penalty row with its party's clear values: ``party_name``, ``party_code`` (the ID
    number of a natural person, the USCC of an organisation) and ``facts`` — only for a document rendered for
    the party or the publication sent to the platform."""
    out = dict(row)
    out["party_name"] = pii.unseal(out.get("party_name")) or ""
    code = pii.unseal(out.get("party_code")) if out.get("party_code") else None
    key = out.get("party_key")
    out["party_code"] = code or (None if pii.is_blind(key) else key)
    if "facts" in out:
        out["facts"] = open_text(out["facts"]) or ""
    return out


def shown_name(party_type: Any, name: Any) -> str:
    """A party's name as a page, an answer or a log shows it: a natural person's masked (``mask_name``)."""
    clear = pii.unseal(name) if name else ""
    return mask_name(clear) if is_natural(party_type) and clear else str(clear or "")


def shown(row: dict[str, Any]) -> dict[str, Any]:
    """A copy of a case or penalty row as a page shows it: a natural person's name masked, their ID number
    masked in ``party_key``; the facts opened with ID numbers and the party's own name masked."""
    out = opened(row)
    natural = is_natural(row.get("party_type"))
    if natural:
        out["party_key"] = mask_id(out["party_code"]) if out["party_code"] else "（已加密）"
        out["party_code"] = out["party_key"]
    if "facts" in out:
        out["facts"] = masked_text(out["facts"], out["party_name"] if natural else None)
    out["party_name"] = shown_name(row.get("party_type"), row.get("party_name"))
    return out


def masked_text(text: Any, name: str | None = None) -> str:
    """A free text opened for a page: ID numbers masked and, when given, a natural person's name masked."""
    clear = mask_text(open_text(text) if isinstance(text, str) else text or "")
    return clear.replace(name, mask_name(name)) if name else clear


def event(conn: sa.Connection, subject_id: str, action: str, actor: str, on_date: dt.date, *,
          from_state: str | None = None, to_state: str | None = None, document_id: str | None = None,
          basis: str | None = None, comment: str | None = None) -> None:
    """One transition or act on a subject (case, penalty, request): who, when, document, basis."""
    conn.execute(wh.credit_event.insert().values(
        subject_id=subject_id, action=action, from_state=from_state, to_state=to_state, actor=actor,
        on_date=on_date.isoformat(), document_id=document_id, basis=mask_text(basis) if basis else None,
        comment=seal_text(comment), at=wh.now_iso()))


def events(conn: sa.Connection, subject_id: str) -> list[dict[str, Any]]:
    """A subject's events, oldest first, with their comments opened (a page masks them: :func:`masked_text`)."""
    e = wh.credit_event
    rows = conn.execute(sa.select(e).where(e.c.subject_id == subject_id).order_by(e.c.id)).mappings()
    return [{**r, "comment": open_text(r["comment"])} for r in rows]


def party_code_of(party_type: str, uscc: Any, id_no: Any) -> str | None:
    """The party's clear code: the USCC of an organisation, the ID number of a natural person (normalised)."""
    return nz.normalize_code(id_no if is_natural(party_type) else uscc)


def party_key_of(party_type: str, uscc: Any, id_no: Any) -> str | None:
    """The party's stored key: the USCC of an organisation, the blind index of a natural person's normalised
    ID number (``creditflow.core.pii.party_key``) — what the ledger's keys and every look-up compare."""
    return pii.party_key(party_code_of(party_type, uscc, id_no), is_natural(party_type))


def natural_key(doc_no: Any, party_key: str | None) -> str | None:
    """The 双公示 natural key (normalised 文号 | stored party key), as the ledger keys records: a natural person's
    part is the blind index (``party_key`` must already be the stored key, :func:`party_key_of`)."""
    doc = nz.doc_no_key(doc_no)
    return f"{doc}|{party_key}" if doc and party_key else None
