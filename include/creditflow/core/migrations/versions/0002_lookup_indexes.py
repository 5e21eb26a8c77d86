"""Indexes for the two look-ups by record id that scanned a whole table.

- ``cf_staging (record_id, interval_start)``: extract takes again the records still waiting on a review
  (``carried_over``) by record id across all earlier runs; staging grows by every run's rows.
- ``cf_std (record_id, content_hash)``: the review page shows each pending record's payload.

Both tables are keyed on ``(run_key, record_id)``, which does not serve a look-up without the run key.
"""

from __future__ import annotations

from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_staging_record", "cf_staging", ["record_id", "interval_start"])
    op.create_index("ix_std_record", "cf_std", ["record_id", "content_hash"])


def downgrade() -> None:
    op.drop_index("ix_std_record", table_name="cf_std")
    op.drop_index("ix_staging_record", table_name="cf_staging")
