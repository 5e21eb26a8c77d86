"""Which fields of a record are personal (``data/standard/personal_fields.yaml``), sealed and opened as one.

Every writer of a payload (staging, standardised records, the ledger's pending payload) seals with
:func:`seal_payload`; every reader that needs the clear value (sending to the platform, rendering a
document for its party, showing it masked) opens with :func:`open_payload`. The party key of a natural
person is their blind index (:func:`party_key`); a lookup by a code a person typed asks both forms
(:func:`lookup_keys`).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from functools import cache
from importlib import resources
from typing import Any

import yaml

from creditflow.core.pii.keys import Keyring
from creditflow.core.pii.sm4 import blind, is_sealed, seal, unseal

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


def personal_codes(kind: str) -> list[str]:
    """Every field code of ``kind`` that may hold personal data (whatever the party's category)."""
    spec = _spec().get(kind) or {}
    person = spec.get("natural_person") or {}
    return [*spec.get("always", []), *person.get("fields", [])]


def seal_payload(kind: str, payload: Mapping[str, Any], ring: Keyring | None = None) -> dict[str, Any]:
    """A copy of ``payload`` with its personal fields sealed (values already sealed stay as they are)."""
    out = dict(payload)
    for field in personal_fields(kind, payload):
        value = out[field]
        if value is not None and value != "":
            out[field] = seal(str(value), ring)
    return out


def open_payload(kind: str, payload: Mapping[str, Any], ring: Keyring | None = None) -> dict[str, Any]:
    """A copy of ``payload`` with its sealed fields opened (for the platform, a document, a masked view).
    Every sealed field is opened, whatever the party's category says now."""
    del kind  # what is sealed is marked in the value itself
    return {k: unseal(v, ring) if is_sealed(v) else v for k, v in payload.items()}


def open_all(value: Any, ring: Keyring | None = None) -> Any:
    """``value`` (a JSON-like tree: dicts, lists, text) with every sealed text in it opened: what a reader of a
    raw source row or a payload uses when it needs the clear values, whatever fields were sealed."""
    if isinstance(value, str):
        return unseal(value, ring) if is_sealed(value) else value
    if isinstance(value, dict):
        return {k: open_all(v, ring) for k, v in value.items()}
    if isinstance(value, list):
        return [open_all(v, ring) for v in value]
    return value


def seal_paths(row: Mapping[str, Any], paths: Iterable[str], ring: Keyring | None = None) -> dict[str, Any]:
    """A copy of the JSON-like ``row`` with the values at ``paths`` (``a.b`` for nested objects) sealed."""
    out = dict(row)
    for path in paths:
        head, _, rest = path.partition(".")
        if head not in out:
            continue
        if rest:
            if isinstance(out[head], Mapping):
                out[head] = seal_paths(out[head], [rest], ring)
        elif isinstance(out[head], (str, int)) and not isinstance(out[head], bool) and out[head] != "":
            out[head] = seal(str(out[head]), ring)
    return out


def seal_json(kind: str, text: str | None, ring: Keyring | None = None) -> str | None:
    """A payload stored as JSON text with its personal fields sealed (the text as it is when nothing changes)."""
    if not text:
        return text
    payload = json.loads(text)
    if not isinstance(payload, dict):
        return text
    sealed = seal_payload(kind, payload, ring)
    return text if sealed == payload else json.dumps(sealed, ensure_ascii=False)


def open_json(text: str | None, ring: Keyring | None = None) -> dict[str, Any]:
    """A stored JSON payload, decoded, with every sealed value opened."""
    if not text:
        return {}
    return dict(open_all(json.loads(text), ring))


_KIND_OF_PREFIX = {"CF": "penalty", "XK": "license", "QZ": "coercion", "SX": "dishonest_list"}


def masked(payload: Mapping[str, Any], kind: str | None = None, ring: Keyring | None = None) -> dict[str, Any]:
    """A payload as a page shows it: sealed values opened, then every personal field masked — document
    numbers by :func:`~creditflow.common.mask_id`, names by :func:`~creditflow.common.mask_name` — and any
    ID number left in another field by :func:`~creditflow.common.mask_text`."""
    from creditflow.common import mask_id, mask_name, mask_text

    opened = open_all(dict(payload), ring)
    if kind is None:
        prefix = next((str(k).split("_", 1)[0] for k in opened), "")
        kind = _KIND_OF_PREFIX.get(prefix, "")
    personal = set(personal_fields(kind, opened))
    out: dict[str, Any] = {}
    for k, v in opened.items():
        if v in (None, "") or not isinstance(v, str):
            out[k] = v
        elif k in personal:
            out[k] = mask_id(v) if k.endswith("ZJHM") else mask_name(v)
        else:
            out[k] = mask_text(v)
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
