"""Baseline: the warehouse as ``metadata.create_all`` built it up to commit 5f4b531.

Frozen: this file spells every table out instead of importing ``creditflow.core.warehouse``, so that
later changes of the model never change what 0001 means. A warehouse made by the old ``create_all``
(no version table) is recognised as this revision and stamped, its data untouched.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "cf_staging",
        sa.Column("run_key", sa.String(120), primary_key=True),
        sa.Column("record_id", sa.String(300), primary_key=True),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("source_system", sa.String(32), nullable=False),
        sa.Column("source_key", sa.String(260), nullable=False),
        sa.Column("lineage", sa.Text),
        sa.Column("interval_start", sa.String(32), nullable=False),
        sa.Column("extracted_at", sa.String(40), nullable=False),
        sa.Column("raw_payload", sa.Text, nullable=False),
    )
    op.create_table(
        "cf_std",
        sa.Column("run_key", sa.String(120), primary_key=True),
        sa.Column("record_id", sa.String(300), primary_key=True),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("source_system", sa.String(32), nullable=False),
        sa.Column("natural_key", sa.String(400)),
        sa.Column("doc_key", sa.String(200)),
        sa.Column("party_key", sa.String(80)),
        sa.Column("decision_date", sa.String(10)),
        sa.Column("due_date", sa.String(10)),
        sa.Column("source_revoked", sa.Boolean, nullable=False),
        sa.Column("content_hash", sa.String(64), nullable=False),
        sa.Column("body_hash", sa.String(64), nullable=False),
        sa.Column("payload", sa.Text, nullable=False),
    )
    op.create_table(
        "cf_finding",
        sa.Column("run_key", sa.String(120), primary_key=True),
        sa.Column("record_id", sa.String(300), primary_key=True),
        sa.Column("field", sa.String(40), primary_key=True),
        sa.Column("rule_id", sa.String(40), primary_key=True),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("severity", sa.String(10), nullable=False),
        sa.Column("message_zh", sa.Text, nullable=False),
        sa.Column("detail", sa.Text),
    )
    op.create_table(
        "cf_outcome",
        sa.Column("run_key", sa.String(120), primary_key=True),
        sa.Column("record_id", sa.String(300), primary_key=True),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("outcome", sa.String(20), nullable=False),
        sa.Column("op", sa.String(12)),
        sa.Column("natural_key", sa.String(400)),
        sa.Column("duplicate_of", sa.String(300)),
        sa.Column("review_reason", sa.String(40)),
        sa.Column("detail", sa.Text),
        sa.Column("due_date", sa.String(10)),
        sa.Column("late", sa.Boolean, nullable=False),
        sa.Column("due_soon", sa.Boolean, nullable=False),
    )
    op.create_table(
        "cf_review",
        sa.Column("record_id", sa.String(300), primary_key=True),
        sa.Column("content_hash", sa.String(64), primary_key=True),
        sa.Column("op", sa.String(12), primary_key=True),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("natural_key", sa.String(400)),
        sa.Column("reason", sa.String(40), nullable=False),
        sa.Column("related_record", sa.String(300)),
        sa.Column("levels_required", sa.String(20), nullable=False),
        sa.Column("status", sa.String(12), nullable=False),
        sa.Column("due_date", sa.String(10)),
        sa.Column("created_run_key", sa.String(120), nullable=False),
        sa.Column("created_at", sa.String(40), nullable=False),
        sa.Column("applied_run_key", sa.String(120)),
    )
    op.create_table(
        "cf_review_decision",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("record_id", sa.String(300), nullable=False),
        sa.Column("content_hash", sa.String(64), nullable=False),
        sa.Column("op", sa.String(12), nullable=False),
        sa.Column("level", sa.Integer, nullable=False),
        sa.Column("decision", sa.String(12), nullable=False),
        sa.Column("reviewer", sa.String(80), nullable=False),
        sa.Column("comment", sa.Text),
        sa.Column("decided_at", sa.String(40), nullable=False),
        sa.UniqueConstraint("record_id", "content_hash", "op", "level", name="uq_review_level"),
    )
    op.create_table(
        "cf_ledger",
        sa.Column("kind", sa.String(16), primary_key=True),
        sa.Column("natural_key", sa.String(400), primary_key=True),
        sa.Column("owner_record_id", sa.String(300), nullable=False),
        sa.Column("party_key", sa.String(80)),
        sa.Column("doc_key", sa.String(200)),
        sa.Column("decision_date", sa.String(10)),
        sa.Column("body_hash", sa.String(64)),
        sa.Column("accepted_hash", sa.String(64)),
        sa.Column("platform_status", sa.String(12)),
        sa.Column("platform_version", sa.Integer),
        sa.Column("state", sa.String(12), nullable=False),
        sa.Column("op", sa.String(12)),
        sa.Column("pending_hash", sa.String(64)),
        sa.Column("pending_payload", sa.Text),
        sa.Column("idempotency_key", sa.String(64)),
        sa.Column("batch_key", sa.String(64)),
        sa.Column("batch_seq", sa.Integer),
        sa.Column("batch_id", sa.String(40)),
        sa.Column("code", sa.String(16)),
        sa.Column("message", sa.Text),
        sa.Column("run_key", sa.String(120)),
        sa.Column("first_accepted_at", sa.String(40)),
        sa.Column("updated_at", sa.String(40), nullable=False),
    )
    op.create_index("ix_ledger_party", "cf_ledger", ["kind", "party_key", "decision_date"])
    op.create_index("ix_ledger_state", "cf_ledger", ["state"])
    op.create_index("ix_ledger_batch", "cf_ledger", ["batch_key"])
    op.create_table(
        "cf_ledger_history",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("natural_key", sa.String(400), nullable=False),
        sa.Column("record_id", sa.String(300)),
        sa.Column("op", sa.String(12)),
        sa.Column("state", sa.String(12), nullable=False),
        sa.Column("content_hash", sa.String(64)),
        sa.Column("batch_id", sa.String(40)),
        sa.Column("code", sa.String(16)),
        sa.Column("run_key", sa.String(120)),
        sa.Column("at", sa.String(40), nullable=False),
    )
    op.create_table(
        "cf_run_summary",
        sa.Column("run_key", sa.String(120), primary_key=True),
        sa.Column("kind", sa.String(16), primary_key=True),
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
    )
    op.create_table(
        "cf_source_file",
        sa.Column("run_key", sa.String(120), primary_key=True),
        sa.Column("file_name", sa.String(300), primary_key=True),
        sa.Column("status", sa.String(12), nullable=False),
        sa.Column("rows", sa.Integer),
        sa.Column("reason", sa.Text),
        sa.Column("archived_as", sa.Text),
    )


def downgrade() -> None:
    raise NotImplementedError("the baseline is never dropped by a migration: it holds the ledger")
