"""Which fields of a record are personal (``data/standard/personal_fields.yaml``), sealed and opened as one.

Every writer of a payload (staging, standardised records, the ledger's pending payload) seals with
:func:`seal_payload`; every reader that needs the clear value (sending to the platform, rendering a
document for its party, showing it masked) opens with :func:`open_payload`. The party key of a natural
person is their blind index (:func:`party_key`); a lookup by a code a person typed asks both forms
(:func:`lookup_keys`).
"""

from __future__ import annotations

from collections.abc import Mapping
from functools import cache
from importlib import resources
from typing import Any

import yaml

from creditflow.core.pii.keys import Keyring
from creditflow.core.pii.sm4 import blind, seal, unseal

NATURAL_PERSON = "自然人"


@cache
def _spec() -> dict[str, Any]:
    text = (resources.files("creditflow") / "data" / "standard" / "personal_fields.yaml").read_text(encoding="utf-8")
    return dict(yaml.safe_load(text)["kinds"])


def kinds() -> list[str]:
    return sorted(_spec())


def personal_fields(kind: str, payload: Mapping[str, Any]) -> list[str]:
    """The field codes of ``payload`` that hold personal data (those present, for a record of ``kind``)."""
    spec = _spec().get(kind)
    if spec is None:
        return []
    found = [f for f in spec.get("always", []) if f in payload]
    person = spec.get("natural_person") or {}
    if person and payload.get(person["category"]) == NATURAL_PERSON:
        found += [f for f in person["fields"] if f in payload]
    return found


def seal_payload(kind: str, payload: Mapping[str, Any], ring: Keyring | None = None) -> dict[str, Any]:
    """A copy of ``payload`` with its personal fields sealed (values already sealed stay as they are)."""
    out = dict(payload)
    for field in personal_fields(kind, payload):
        value = out[field]
        if value is not None and value != "":
            out[field] = seal(str(value), ring)
    return out


def open_payload(kind: str, payload: Mapping[str, Any], ring: Keyring | None = None) -> dict[str, Any]:
    """A copy of ``payload`` with its sealed fields opened (for the platform, a document, a masked view)."""
    out = dict(payload)
    for field in personal_fields(kind, payload):
        out[field] = unseal(out[field], ring)
    return out


def party_key(code: str | None, natural_person: bool, ring: Keyring | None = None) -> str | None:
    """The stored party key: a natural person's document number as its blind index, an organisation's code
    (USCC or the other registration codes) as it is."""
    if not code or not natural_person:
        return code
    return blind(code, "id", ring)


def lookup_keys(code: str, ring: Keyring | None = None) -> tuple[str, ...]:
    """The stored party keys a code may be (as it is — an organisation — and as a person's blind index)."""
    if not code:
        return ()
    bi = blind(code, "id", ring)
    return (code,) if bi is None or bi == code else (code, bi)
