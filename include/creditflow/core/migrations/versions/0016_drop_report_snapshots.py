"""Reports: ``cf_report_snapshot`` (revision 0011) goes — every report computes its 13 periods from one read
of its window (``creditflow.feedback.build``); nothing reads the stored figures any more (issue #17.7).

The snapshots were a cache, never a record: one was used only when computing its period afresh would give
the same bytes, and any release touching the figures' code made every one unusable. Since revision 0014 a
re-run keeps its day's first reconciliation, so the cache's check (the counted runs' ``written_at``) no
longer saw a backfill that replaced a day's rows: the same report could state an old figure from a
snapshot or a new one computed afresh. Without it a report is the same bytes for the same warehouse,
period and cut-off. What a report showed stays in its own files (``summary.json``, the XLSX and the PDF
in the reports store).

The report reads the ledger history of its window by ``at`` (13 months, ``facts._history``): the index
``ix_ledger_history_at`` makes that a range read of the window instead of a walk over every row the
history ever kept (measured on the 1M benchmark warehouse, whose history is one year: the window's read
costs the same with it, 6.6 s CPU; one month's read 1.08 → 0.56 s; docs/benchmarks.md §5). Building it on
that warehouse took 23 s at load 8.

Downgrade drops the index and recreates the table empty (the release before fills it again on its next report).
Frozen like the baseline: the table is spelled out here, not imported from the model.

Developed on top of 0014; it follows the ledger's 0015 once that is merged (``down_revision``).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0016"
down_revision = "0015"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.drop_table("cf_report_snapshot")
    op.create_index("ix_ledger_history_at", "cf_ledger_history", ["at"])


def downgrade() -> None:
    op.drop_index("ix_ledger_history_at", table_name="cf_ledger_history")
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
