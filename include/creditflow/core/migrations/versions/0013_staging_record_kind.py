"""The look-up of records still waiting for a review, by record id and kind (``extract.carried_over``).

Every run takes again the records waiting on 层层审核, so each waiting record has one ``cf_staging`` row per
day it has waited: after a year of a first load, about 900 records with up to 365 rows each. The look-up
(the latest earlier row of each waiting record of the run's kind) filtered on ``kind``, which the index
``(record_id, interval_start)`` of revision 0002 does not hold, so it read every one of those rows from the
table: 0.39 s a day at that backlog. ``(record_id, kind, interval_start)`` answers it from the index alone
(0.07 s, ``docs/benchmarks.md`` §7) and serves every look-up the old index served, which it replaces.
"""

from __future__ import annotations

from alembic import op

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_staging_record_kind", "cf_staging", ["record_id", "kind", "interval_start"])
    op.drop_index("ix_staging_record", table_name="cf_staging")


def downgrade() -> None:
    op.create_index("ix_staging_record", "cf_staging", ["record_id", "interval_start"])
    op.drop_index("ix_staging_record_kind", table_name="cf_staging")
