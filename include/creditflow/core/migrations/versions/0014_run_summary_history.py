"""Reconciliations are history: ``cf_run_summary`` keeps one row per reconciliation (issue #17.3).

Until now ``reconcile`` replaced a run's row, so a backfill of an old day overwrote that day's
reconciliation with one made from today's ledger (and moved its ``written_at`` past the cut-off of the
reports that had counted it). The table gets an ``id`` (the order the reconciliations were written in) as
its primary key instead of ``(run_key, kind)``; every existing row is kept, numbered in the order it was
written. Readers that want a run's summary take its latest row (``warehouse.latest_summaries``); the
overview page shows the earlier ones as 重跑前.

The table is rebuilt (SQLite cannot change a primary key in place): the old one is renamed, the new one
created with the same columns plus ``id``, the rows copied, the old one dropped. Frozen like the
baseline: the table is spelled out here, not imported from the model.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None

COLUMNS = ("run_key", "kind", "dag_id", "interval_start", "interval_end", "extracted", "uploaded", "quarantined",
           "awaiting_review", "unchanged", "duplicates", "late", "due_soon", "rejected_files", "reconciled",
           "written_at")


def _columns() -> list[sa.Column]:
    return [
        sa.Column("dag_id", sa.String(120), nullable=False),
        sa.Column("interval_start", sa.String(32), nullable=False),
        sa.Column("interval_end", sa.String(32), nullable=False),
        sa.Column("extracted", sa.Integer, nullable=False),
        sa.Column("uploaded", sa.Integer, nullable=False),
        sa.Column("quarantined", sa.Integer, nullable=False),
        sa.Column("awaiting_review", sa.Integer, nullable=False),
        sa.Column("unchanged", sa.Integer, nullable=False),
        sa.Column("duplicates", sa.Integer, nullable=False),
        sa.Column("late", sa.Integer, nullable=False),
        sa.Column("due_soon", sa.Integer, nullable=False),
        sa.Column("rejected_files", sa.Integer, nullable=False),
        sa.Column("reconciled", sa.Boolean, nullable=False),
        sa.Column("written_at", sa.String(40), nullable=False),
    ]


def _set_aside(name: str) -> None:
    """Rename the old table (and, on PostgreSQL, its primary key's name, which the new table needs)."""
    op.rename_table("cf_run_summary", name)
    if op.get_bind().dialect.name == "postgresql":
        op.execute(f"ALTER INDEX cf_run_summary_pkey RENAME TO {name}_pkey")


def upgrade() -> None:
    _set_aside("cf_run_summary_0013")
    op.create_table(
        "cf_run_summary",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("run_key", sa.String(120), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        *_columns(),
    )
    cols = ", ".join(COLUMNS)
    op.execute(f"INSERT INTO cf_run_summary ({cols}) SELECT {cols} FROM cf_run_summary_0013 "
               "ORDER BY written_at, run_key, kind")
    op.drop_table("cf_run_summary_0013")
    op.create_index("ix_run_summary_run", "cf_run_summary", ["run_key", "kind", "id"])


def downgrade() -> None:
    """Back to one row per run: each run's latest reconciliation."""
    op.drop_index("ix_run_summary_run", table_name="cf_run_summary")
    op.rename_table("cf_run_summary", "cf_run_summary_0014")
    if op.get_bind().dialect.name == "postgresql":
        op.execute("ALTER INDEX cf_run_summary_pkey RENAME TO cf_run_summary_0014_pkey")
    op.create_table(
        "cf_run_summary",
        sa.Column("run_key", sa.String(120), primary_key=True),
        sa.Column("kind", sa.String(16), primary_key=True),
        *_columns(),
    )
    cols = ", ".join(COLUMNS)
    op.execute(f"INSERT INTO cf_run_summary ({cols}) SELECT {cols} FROM cf_run_summary_0014 WHERE id IN "
               "(SELECT MAX(id) FROM cf_run_summary_0014 GROUP BY run_key, kind)")
    op.drop_table("cf_run_summary_0014")
