"""Personal data at rest (issue #19 §3): an existing warehouse is encrypted in place, nothing lost.

* Sealed (SM4-GCM, ``creditflow.core.pii``): the personal fields of the staged raw rows (``cf_staging``,
  by the source mappings), of the standardised records (``cf_std.payload``) and of the ledger's payloads
  (``cf_ledger.pending_payload``); in the credit tables what ``docs/pii-columns-credit.md`` lists (a
  natural person's name and ID number — the latter moved to the new ``party_code`` —, facts, proposals,
  objections, requests' evidence, event comments, document contents).
* Blinded (HMAC-SM3): a natural person's party key, hence every natural key built from it, consistently in
  ``cf_std``, ``cf_outcome``, ``cf_review``, ``cf_ledger`` (its primary key), ``cf_ledger_history`` and the
  credit tables. The ledger's stored hashes and idempotency keys are not touched: they were computed over
  the clear payload, so the next run finds every record unchanged and sends nothing.
* Masked: a natural person's name in the answers kept by the integrity check's log.

Which party keys are a natural person's is read from the data itself (the category field of each payload,
``party_type`` of the credit rows), never guessed from the shape of a code. Every step is idempotent (a
sealed or blinded value is left as it is) and works in batches, so a migration stopped half-way (PostgreSQL
runs it in one transaction anyway) can simply be run again. The keyring is required: without it the
upgrade stops and names the connection (``creditflow_pii``).

The downgrade opens every sealed value and restores the clear keys (needs the same keyring): the blind
index cannot be reversed, so the clear keys are taken from the sealed values kept next to them.

Developed on top of 0016; the coordinator re-chains it after 0017 (``down_revision``). ``party_code`` of the
credit tables is added here unless an earlier revision did (the credit side's ``0017b``, if it is kept).
"""

from __future__ import annotations

import functools
import json
from collections.abc import Callable, Iterator
from typing import Any

import sqlalchemy as sa
from alembic import op

revision = "0018"
down_revision = "0017b"
branch_labels = None
depends_on = None

NATURAL = "自然人"
BATCH = 2000
_PREFIX = {"CF": "penalty", "XK": "license", "QZ": "coercion", "SX": "dishonest_list"}


def _pii() -> Any:
    from creditflow.core import pii

    pii.keyring()  # PiiKeyError (Chinese, names the connection) before anything is touched
    return pii


def _table(bind: sa.Connection, name: str) -> sa.Table | None:
    if name not in sa.inspect(bind).get_table_names():
        return None
    return sa.Table(name, sa.MetaData(), autoload_with=bind)


def _rows(bind: sa.Connection, table: sa.Table, cols: list[str]) -> Iterator[list[Any]]:
    """All rows of ``table`` (primary key + ``cols``) in batches, by primary key."""
    pk = [c.name for c in table.primary_key.columns]
    last: tuple[Any, ...] | None = None
    while True:
        q = sa.select(*(table.c[c] for c in pk), *(table.c[c] for c in cols)).order_by(*(table.c[c] for c in pk))
        if last is not None:
            q = q.where(sa.tuple_(*(table.c[c] for c in pk)) > sa.tuple_(*last)) if len(pk) > 1 \
                else q.where(table.c[pk[0]] > last[0])
        rows = bind.execute(q.limit(BATCH)).all()
        if not rows:
            return
        yield [dict(r._mapping) for r in rows]
        last = tuple(rows[-1][: len(pk)])


def _update(bind: sa.Connection, table: sa.Table, row: dict[str, Any], values: dict[str, Any]) -> None:
    changed = {k: v for k, v in values.items() if v != row.get(k)}
    if changed:
        pk = [c.name for c in table.primary_key.columns]
        bind.execute(table.update().where(*(table.c[c] == row[c] for c in pk)).values(**changed))


def _kind_of(payload: dict[str, Any]) -> str | None:
    return next((_PREFIX.get(str(k).split("_", 1)[0]) for k in payload), None)


def _is_natural(payload: dict[str, Any]) -> bool:
    return any(str(k).endswith("_XDR_LB") and v == NATURAL for k, v in payload.items())


def _loads(text: str | None) -> dict[str, Any] | None:
    try:
        value = json.loads(text) if text else None
    except ValueError:
        return None
    return value if isinstance(value, dict) else None


def _dumps(value: dict[str, Any], sort: bool) -> str:
    return json.dumps(value, ensure_ascii=False, sort_keys=sort)


def _sealed_json(pii: Any, kind: str | None, text: str | None, sort: bool) -> str | None:
    payload = _loads(text)
    if payload is None or kind is None:
        return text
    sealed = pii.seal_payload(kind, payload)
    return text if sealed == payload else _dumps(sealed, sort)


def _natural_codes(bind: sa.Connection) -> set[str]:
    """The clear party keys of natural persons, as the data says (category fields, party_type)."""
    codes: set[str] = set()
    for name, col, key_col in (("cf_std", "payload", "party_key"), ("cf_ledger", "pending_payload", "party_key")):
        table = _table(bind, name)
        if table is None:
            continue
        for rows in _rows(bind, table, [col, key_col]):
            for r in rows:
                payload = _loads(r[col])
                if payload and _is_natural(payload) and r[key_col]:
                    codes.add(str(r[key_col]))
                if payload and _is_natural(payload):  # the ID number a payload names (ledger rows without key)
                    codes.update(str(v) for k, v in payload.items()
                                 if str(k).endswith("_XDR_ZJHM") and v and not str(v).startswith("sm4g:"))
    for name in ("cf_credit_case", "cf_credit_penalty"):
        table = _table(bind, name)
        if table is None:
            continue
        codes.update(str(k) for k, t in bind.execute(sa.select(table.c.party_key, table.c.party_type)) if t == NATURAL)
    return {c for c in codes if not c.startswith("bi:")}


def _key_rewriter(pii: Any, codes: set[str]) -> tuple[Callable[[str | None], str | None],
                                                     Callable[[str | None], str | None]]:
    cache: dict[str, str] = {}

    def party(code: str | None) -> str | None:
        if not code or code not in codes:
            return code
        if code not in cache:
            cache[code] = pii.party_key(code, True)
        return cache[code]

    def natural(nk: str | None) -> str | None:
        if not nk or "|" not in nk:
            return nk
        doc, _, code = nk.rpartition("|")
        new = party(code)
        return nk if new == code else f"{doc}|{new}"
    return party, natural


def upgrade() -> None:
    pii = _pii()
    from creditflow.reporting.pipeline.common import raw_personal_paths

    bind = op.get_bind()
    for table_name in ("cf_credit_case", "cf_credit_penalty"):
        table = _table(bind, table_name)
        if table is not None and "party_code" not in table.c:
            with op.batch_alter_table(table_name) as batch:
                batch.add_column(sa.Column("party_code", sa.String(120)))
    codes = _natural_codes(bind)
    party, natural = _key_rewriter(pii, codes)

    def each(name: str, cols: list[str], fn: Callable[[dict[str, Any]], dict[str, Any]]) -> None:
        table = _table(bind, name)
        if table is None:
            return
        for rows in _rows(bind, table, cols):
            for r in rows:
                _update(bind, table, r, fn(r))

    def staging(r: dict[str, Any]) -> dict[str, Any]:
        raw = _loads(r["raw_payload"])
        if raw is None:
            return {}
        sealed = pii.seal_paths(raw, raw_personal_paths(r["source_system"], r["kind"]))
        return {"raw_payload": _dumps(sealed, True)} if sealed != raw else {}

    def std(r: dict[str, Any]) -> dict[str, Any]:
        payload = _loads(r["payload"]) or {}
        out: dict[str, Any] = {"payload": _sealed_json(pii, r["kind"], r["payload"], True)}
        if _is_natural(payload):
            out["party_key"] = pii.party_key(r["party_key"], True)
        out["natural_key"] = natural(r["natural_key"])
        return out

    each("cf_staging", ["source_system", "kind", "raw_payload"], staging)
    each("cf_std", ["kind", "payload", "party_key", "natural_key"], std)
    each("cf_outcome", ["natural_key"], lambda r: {"natural_key": natural(r["natural_key"])})
    each("cf_review", ["natural_key"], lambda r: {"natural_key": natural(r["natural_key"])})
    each("cf_ledger_history", ["natural_key"], lambda r: {"natural_key": natural(r["natural_key"])})
    each("cf_ledger", ["party_key", "pending_payload"], lambda r: {
        "party_key": party(r["party_key"]),
        "pending_payload": _sealed_json(pii, r["kind"], r["pending_payload"], False)})
    # The ledger's primary key last (a batch walks the key it rewrites otherwise): one UPDATE per key.
    ledger = _table(bind, "cf_ledger")
    if ledger is not None:
        moves = [(k, nk, natural(nk)) for k, nk in bind.execute(sa.select(ledger.c.kind, ledger.c.natural_key))]
        for kind, old, new in moves:
            if new != old:
                bind.execute(ledger.update().where(ledger.c.kind == kind, ledger.c.natural_key == old)
                             .values(natural_key=new))

    def person_row(r: dict[str, Any], sealed: tuple[str, ...]) -> dict[str, Any]:
        if r["party_type"] != NATURAL:
            return {"natural_key": natural(r["natural_key"])} if "natural_key" in r else {}
        out = {"party_code": r["party_code"] or (None if str(r["party_key"]).startswith("bi:")
                                                 else pii.seal(r["party_key"])),
               "party_key": pii.party_key(r["party_key"], True),
               **{c: pii.seal(r[c]) for c in sealed}}
        if "natural_key" in r:
            out["natural_key"] = natural(r["natural_key"])
        return out

    each("cf_credit_case", ["party_type", "party_key", "party_code", "party_name", "facts", "natural_key"],
         lambda r: person_row(r, ("party_name", "facts")))
    each("cf_credit_case", ["proposal"], lambda r: {"proposal": pii.seal(r["proposal"])})
    each("cf_credit_penalty", ["party_type", "party_key", "party_code", "party_name", "natural_key"],
         lambda r: person_row(r, ("party_name",)))
    each("cf_credit_request", ["party_key", "evidence", "revoke_reason"], lambda r: {
        "party_key": party(r["party_key"]), "evidence": pii.seal(r["evidence"]),
        "revoke_reason": pii.seal(r["revoke_reason"])})
    each("cf_credit_event", ["comment"], lambda r: {"comment": pii.seal(r["comment"])})
    each("cf_credit_objection", ["content", "resolution"], lambda r: {
        "content": pii.seal(r["content"]), "resolution": pii.seal(r["resolution"])})
    each("cf_credit_document", ["content"], lambda r: {"content": pii.seal(r["content"])})

    def answer(r: dict[str, Any]) -> dict[str, Any]:
        from creditflow.common import mask_name

        value = _loads(r["answer"])
        if not value or value.get("code_type") != "ric" or not value.get("party_name"):
            return {}
        masked = mask_name(value["party_name"])
        return {} if masked == value["party_name"] else {"answer": _dumps({**value, "party_name": masked}, False)}

    each("cf_credit_check_log", ["answer"], answer)


def _cleared(cols: list[str], party: Callable[[Any], Any], natural: Callable[[Any], Any], unseal: Callable[[Any], Any],
             row: dict[str, Any]) -> dict[str, Any]:
    return {c: party(v) if c == "party_key" else natural(v) if c == "natural_key" else unseal(v)
            for c, v in row.items() if c in cols}


def downgrade() -> None:
    pii = _pii()
    bind = op.get_bind()
    clear: dict[str, str] = {}  # blind index → the clear code it was made from

    def learn(code: str | None, bi: str | None) -> None:
        if code and bi and str(bi).startswith("bi:"):
            clear[str(bi)] = pii.unseal(code)

    for name in ("cf_credit_case", "cf_credit_penalty"):
        table = _table(bind, name)
        if table is not None and "party_code" in table.c:
            for code, bi in bind.execute(sa.select(table.c.party_code, table.c.party_key)):
                learn(code, bi)
    for name, col in (("cf_std", "payload"), ("cf_ledger", "pending_payload")):
        table = _table(bind, name)
        if table is None:
            continue
        for rows in _rows(bind, table, [col, "party_key"]):
            for r in rows:
                payload = _loads(r[col]) or {}
                zjhm = next((v for k, v in payload.items() if str(k).endswith("_XDR_ZJHM")), None)
                learn(zjhm, r["party_key"])

    def party(bi: str | None) -> str | None:
        return clear.get(bi, bi) if bi else bi

    def natural(nk: str | None) -> str | None:
        if not nk or "|" not in nk:
            return nk
        doc, _, code = nk.rpartition("|")
        return f"{doc}|{party(code)}"

    def opened(text: str | None, sort: bool) -> str | None:
        value = _loads(text)
        if value is None:
            return pii.unseal(text)
        return _dumps(pii.open_all(value), sort) if "sm4g:" in (text or "") else text

    def each(name: str, cols: list[str], fn: Callable[[dict[str, Any]], dict[str, Any]]) -> None:
        table = _table(bind, name)
        if table is None:
            return
        for rows in _rows(bind, table, [c for c in cols if c in table.c]):
            for r in rows:
                _update(bind, table, r, fn(r))

    each("cf_staging", ["raw_payload"], lambda r: {"raw_payload": opened(r["raw_payload"], True)})
    each("cf_std", ["payload", "party_key", "natural_key"], lambda r: {
        "payload": opened(r["payload"], True), "party_key": party(r["party_key"]),
        "natural_key": natural(r["natural_key"])})
    for name in ("cf_outcome", "cf_review", "cf_ledger_history"):
        each(name, ["natural_key"], lambda r: {"natural_key": natural(r["natural_key"])})
    each("cf_ledger", ["party_key", "pending_payload"], lambda r: {
        "party_key": party(r["party_key"]), "pending_payload": opened(r["pending_payload"], False)})
    ledger = _table(bind, "cf_ledger")
    if ledger is not None:
        for kind, nk in list(bind.execute(sa.select(ledger.c.kind, ledger.c.natural_key))):
            if natural(nk) != nk:
                bind.execute(ledger.update().where(ledger.c.kind == kind, ledger.c.natural_key == nk)
                             .values(natural_key=natural(nk)))
    for name, cols in (("cf_credit_case", ["party_name", "facts", "proposal", "party_key", "natural_key"]),
                       ("cf_credit_penalty", ["party_name", "party_key", "natural_key"]),
                       ("cf_credit_request", ["party_key", "evidence", "revoke_reason"]),
                       ("cf_credit_event", ["comment"]), ("cf_credit_objection", ["content", "resolution"]),
                       ("cf_credit_document", ["content"])):
        each(name, cols, functools.partial(_cleared, cols, party, natural, pii.unseal))
    if _party_code_is_ours():
        for table_name in ("cf_credit_case", "cf_credit_penalty"):
            table = _table(bind, table_name)
            if table is not None and "party_code" in table.c:
                with op.batch_alter_table(table_name) as batch:
                    batch.drop_column("party_code")


def _party_code_is_ours() -> bool:
    """Whether this revision added ``party_code`` (the credit side's stand-in revision ``0017b`` adds it when it
    is in the chain; then its own downgrade drops it)."""
    from creditflow.core import migrations

    return "0017b" not in {rev for rev, _ in migrations.revisions()}
