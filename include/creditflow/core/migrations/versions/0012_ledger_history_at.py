"""Indexes for the monthly report's proof that reading its own month alone is exact (``reports/narrow.py``).

The proof counts the early ``cf_ledger_history`` rows (from the window's first day to the period's) of the
keys the month used or of the runs going out in the month. The early rows are nearly the whole table (the
window is twelve months), so an index on ``at`` alone would not narrow the read; the two look-ups do:

- ``cf_ledger_history (natural_key, kind, at)``: the history of each key the month used, in the date range
  (natural key first: an index led by ``kind`` would be taken for the reports' ``kind IN … AND at …`` reads
  of a whole window, which read most of the table and are faster as a scan);
- ``cf_ledger_history (run_key, at)``: the run keys that occur (one index probe per distinct run key), then
  the rows of the few matching the month's days, in the date range.

The table had no index besides its primary key; without these each report scanned it whole.
"""

from __future__ import annotations

from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_ledger_history_key", "cf_ledger_history", ["natural_key", "kind", "at"])
    op.create_index("ix_ledger_history_run", "cf_ledger_history", ["run_key", "at"])


def downgrade() -> None:
    op.drop_index("ix_ledger_history_run", table_name="cf_ledger_history")
    op.drop_index("ix_ledger_history_key", table_name="cf_ledger_history")
