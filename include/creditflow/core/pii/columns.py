"""Where sealed values live in the warehouse, and moving them to the active key (``creditflow keys …``).

A column holds either a sealed value itself or a JSON text with sealed values inside; both are handled the
same way: every ``sm4g:<kid>:<token>`` in the text is found (the token is base64url, untouched by JSON
escaping) and resealed. Rotation works table by table in batches, each batch its own transaction; a row
is selected while it still holds a value under an old key, so a killed rotation continues where it stopped
(what is done stays done) and both keys open values until the last batch.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Callable, Iterator

import sqlalchemy as sa

from creditflow.core.pii.keys import Keyring, keyring
from creditflow.core.pii.sm4 import SEALED_PREFIX, reseal

#: (table, primary key columns, columns that may hold sealed values)
SEALED_COLUMNS: tuple[tuple[str, tuple[str, ...], tuple[str, ...]], ...] = (
    ("cf_staging", ("run_key", "record_id"), ("raw_payload",)),
    ("cf_std", ("run_key", "record_id"), ("payload",)),
    ("cf_ledger", ("kind", "natural_key"), ("pending_payload",)),
    ("cf_credit_case", ("case_id",), ("party_name", "party_code", "facts", "proposal")),
    ("cf_credit_event", ("id",), ("comment",)),
    ("cf_credit_objection", ("id",), ("content", "resolution")),
    ("cf_credit_request", ("request_id",), ("evidence", "revoke_reason")),
    ("cf_credit_penalty", ("penalty_id",), ("party_name", "party_code")),
    ("cf_credit_document", ("doc_id",), ("content",)),
)

_TOKEN = re.compile(re.escape(SEALED_PREFIX) + r"([^:\s\"\\]+):([A-Za-z0-9_-]+)")


def key_ids(text: str | None) -> Counter[str]:
    """How many sealed values of ``text`` each key id sealed."""
    return Counter(m.group(1) for m in _TOKEN.finditer(text or ""))


def reseal_text(text: str | None, ring: Keyring) -> str | None:
    """``text`` with every sealed value in it sealed under the active key (others untouched)."""
    if not text or SEALED_PREFIX not in text:
        return text
    return _TOKEN.sub(lambda m: m.group(0) if m.group(1) == ring.active else str(reseal(m.group(0), ring)), text)


def _present(conn: sa.Connection) -> Iterator[tuple[sa.Table, tuple[str, ...], tuple[str, ...]]]:
    names = set(sa.inspect(conn).get_table_names())
    md = sa.MetaData()
    for name, pk, cols in SEALED_COLUMNS:
        if name not in names:
            continue
        table = sa.Table(name, md, autoload_with=conn)
        yield table, pk, tuple(c for c in cols if c in table.c)


def _old(table: sa.Table, cols: tuple[str, ...], ring: Keyring) -> sa.ColumnElement[bool]:
    return sa.or_(*(table.c[c].like(f"%{SEALED_PREFIX}{kid}:%") for c in cols for kid in ring.keys
                    if kid != ring.active))


def status(engine: sa.Engine) -> dict[str, dict[str, int]]:
    """Per table: how many sealed values each key id sealed."""
    out: dict[str, dict[str, int]] = {}
    with engine.connect() as conn:
        for table, _, cols in _present(conn):
            counts: Counter[str] = Counter()
            for row in conn.execute(sa.select(*(table.c[c] for c in cols)).where(
                    sa.or_(*(table.c[c].like(f"%{SEALED_PREFIX}%") for c in cols)))):
                for value in row:
                    counts.update(key_ids(value))
            out[table.name] = dict(sorted(counts.items()))
    return out


def rotate(engine: sa.Engine, batch: int = 500, ring: Keyring | None = None,
           progress: Callable[[str, int, int], None] | None = None,
           after_batch: Callable[[str, int], None] | None = None) -> dict[str, int]:
    """Reseal every value not under the active key; returns rows rewritten per table. ``progress(table,
    done, total)`` after each batch; ``after_batch`` is a test's hook (raising there = a kill mid-way)."""
    ring = ring or keyring()
    done_by: dict[str, int] = {}
    if len(ring.keys) < 2:
        return done_by
    with engine.connect() as conn:
        plan = list(_present(conn))
    for table, pk, cols in plan:
        if not cols:
            continue
        where = _old(table, cols, ring)
        with engine.connect() as conn:
            total = int(conn.execute(sa.select(sa.func.count()).select_from(table).where(where)).scalar() or 0)
        done = 0
        if progress is not None:
            progress(table.name, done, total)
        while True:
            with engine.begin() as conn:
                rows = conn.execute(sa.select(*(table.c[k] for k in pk), *(table.c[c] for c in cols))
                                    .where(where).order_by(*(table.c[k] for k in pk)).limit(batch)).all()
                for row in rows:
                    key = dict(zip(pk, row[:len(pk)], strict=True))
                    values = {c: reseal_text(v, ring) for c, v in zip(cols, row[len(pk):], strict=True)}
                    conn.execute(table.update().where(*(table.c[k] == v for k, v in key.items())).values(**values))
            if not rows:
                break
            done += len(rows)
            if progress is not None:
                progress(table.name, done, max(total, done))
            if after_batch is not None:
                after_batch(table.name, done)
        done_by[table.name] = done
    return done_by
