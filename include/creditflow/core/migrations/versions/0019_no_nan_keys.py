"""Keyless records have no key: the text 'NaN' in key columns becomes NULL (#20, found on the way).

A record without a natural key (no 文书号, or no party code) among records with one got pandas' NaN for its
keys; PostgreSQL stored it as the text ``'NaN'`` in ``cf_std.natural_key``, ``doc_key`` and ``party_key`` and
in ``cf_outcome.natural_key`` / ``cf_review.natural_key`` (SQLite stores NaN as NULL: nothing to do there).
Such a "key" was shared by every keyless record. The standardise stage now stores ``None``
(``reporting/pipeline/standardise.py`` ``_key``); this revision clears what was written before.

No real key can be ``'NaN'``: a 文书号 is upper-cased (``NAN``), a party key is a code or a blind index
(``bi:…``), and a natural key joins both with ``|``. Frozen like the others: tables by name.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0019"
down_revision = "0018"
branch_labels = None
depends_on = None

COLUMNS = {"cf_std": ("natural_key", "doc_key", "party_key"), "cf_outcome": ("natural_key",),
           "cf_review": ("natural_key",)}


def upgrade() -> None:
    for table, columns in COLUMNS.items():
        for column in columns:
            t = sa.table(table, sa.column(column))
            op.execute(t.update().where(t.c[column] == "NaN").values({column: None}))


def downgrade() -> None:
    """Nothing to undo: NULL is what a keyless record's key always meant."""
