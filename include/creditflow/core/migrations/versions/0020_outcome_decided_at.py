"""When each outcome was decided: ``cf_outcome.decided_at`` (#20).

A history load decides a day before the day before is reconciled (``pipeline.interval.process_range``). A load
stopped with such days open and cleared must finish them — send what is pending, collect the receipts,
reconcile — not decide them again on a ledger the later days already changed: the column tells which days this
load decided (``interval.decided_days``). Rows written before are NULL (decided before any load that asks).
Frozen like the others: tables by name.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0020"
down_revision = "0019"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("cf_outcome", sa.Column("decided_at", sa.String(40), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("cf_outcome") as batch:
        batch.drop_column("decided_at")
