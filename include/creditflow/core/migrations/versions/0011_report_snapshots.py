"""Reports: ``cf_report_snapshot``, the headline figures of closed periods as a report computed them
(creditflow.feedback.snapshots), read back instead of re-reading the year.

Frozen like the baseline: the table is spelled out here, not imported from the model.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "cf_report_snapshot",
        sa.Column("report_kind", sa.String(16), primary_key=True),
        sa.Column("period", sa.String(16), primary_key=True),
        sa.Column("cut_off", sa.String(40), primary_key=True),
        sa.Column("kinds", sa.String(80), primary_key=True),
        sa.Column("fingerprint", sa.String(64), primary_key=True),
        sa.Column("inputs", sa.Text, nullable=False),
        sa.Column("figures", sa.Text, nullable=False),
        sa.Column("created_at", sa.String(40), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("cf_report_snapshot")
