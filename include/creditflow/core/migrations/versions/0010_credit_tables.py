"""Credit loop: 严重失信名单 cases and their events, objections, requests, tracked penalties, documents,
integrity-check audit log (creditflow.credit).

Frozen like the baseline: the tables are spelled out here, not imported from the model.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "cf_credit_case",
        sa.Column("case_id", sa.String(80), primary_key=True),
        sa.Column("situation_id", sa.String(20), nullable=False),
        sa.Column("party_key", sa.String(80), nullable=False),
        sa.Column("party_type", sa.String(16), nullable=False),
        sa.Column("party_name", sa.String(200), nullable=False),
        sa.Column("facts", sa.Text, nullable=False),
        sa.Column("basis", sa.Text, nullable=False),
        sa.Column("source_ref", sa.String(120)),
        sa.Column("penalty_id", sa.String(300)),
        sa.Column("authority_name", sa.String(200), nullable=False),
        sa.Column("authority_uscc", sa.String(18), nullable=False),
        sa.Column("state", sa.String(20), nullable=False),
        sa.Column("pending_action", sa.String(30)),
        sa.Column("proposed_by", sa.String(80)),
        sa.Column("proposed_at", sa.String(40)),
        sa.Column("proposal", sa.Text),
        sa.Column("notice_doc_id", sa.String(80)),
        sa.Column("notice_delivered_on", sa.String(10)),
        sa.Column("objection_until", sa.String(10)),
        sa.Column("decision_doc_id", sa.String(80)),
        sa.Column("decided_on", sa.String(10)),
        sa.Column("list_start", sa.String(10)),
        sa.Column("list_end", sa.String(10)),
        sa.Column("publication_due", sa.String(10)),
        sa.Column("published_on", sa.String(10)),
        sa.Column("removed_on", sa.String(10)),
        sa.Column("revisit_due", sa.String(10)),
        sa.Column("natural_key", sa.String(400)),
        sa.Column("created_on", sa.String(10), nullable=False),
        sa.Column("updated_at", sa.String(40), nullable=False),
    )
    op.create_index("ix_credit_case_party", "cf_credit_case", ["party_key", "state"])
    op.create_index("ix_credit_case_state", "cf_credit_case", ["state"])
    op.create_table(
        "cf_credit_event",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("subject_id", sa.String(300), nullable=False),
        sa.Column("action", sa.String(60), nullable=False),
        sa.Column("from_state", sa.String(20)),
        sa.Column("to_state", sa.String(20)),
        sa.Column("actor", sa.String(80), nullable=False),
        sa.Column("on_date", sa.String(10), nullable=False),
        sa.Column("document_id", sa.String(80)),
        sa.Column("basis", sa.Text),
        sa.Column("comment", sa.Text),
        sa.Column("at", sa.String(40), nullable=False),
    )
    op.create_index("ix_credit_event_subject", "cf_credit_event", ["subject_id", "id"])
    op.create_table(
        "cf_credit_objection",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("case_id", sa.String(80), nullable=False),
        sa.Column("received_on", sa.String(10), nullable=False),
        sa.Column("content", sa.Text, nullable=False),
        sa.Column("status", sa.String(12), nullable=False),
        sa.Column("recorded_by", sa.String(80), nullable=False),
        sa.Column("resolved_by", sa.String(80)),
        sa.Column("resolved_on", sa.String(10)),
        sa.Column("resolution", sa.Text),
        sa.Column("at", sa.String(40), nullable=False),
    )
    op.create_index("ix_credit_objection_case", "cf_credit_objection", ["case_id"])
    op.create_table(
        "cf_credit_request",
        sa.Column("request_id", sa.String(80), primary_key=True),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("subject_id", sa.String(300), nullable=False),
        sa.Column("party_key", sa.String(80), nullable=False),
        sa.Column("received_on", sa.String(10), nullable=False),
        sa.Column("due_on", sa.String(10)),
        sa.Column("evidence", sa.Text),
        sa.Column("checks", sa.Text),
        sa.Column("status", sa.String(12), nullable=False),
        sa.Column("recorded_by", sa.String(80), nullable=False),
        sa.Column("proposed_by", sa.String(80)),
        sa.Column("proposed_at", sa.String(40)),
        sa.Column("proposal", sa.String(12)),
        sa.Column("decided_by", sa.String(80)),
        sa.Column("decided_on", sa.String(10)),
        sa.Column("document_id", sa.String(80)),
        sa.Column("revoked_on", sa.String(10)),
        sa.Column("revoke_reason", sa.Text),
        sa.Column("at", sa.String(40), nullable=False),
    )
    op.create_index("ix_credit_request_subject", "cf_credit_request", ["subject_id"])
    op.create_table(
        "cf_credit_penalty",
        sa.Column("penalty_id", sa.String(300), primary_key=True),
        sa.Column("natural_key", sa.String(400)),
        sa.Column("party_key", sa.String(80), nullable=False),
        sa.Column("party_type", sa.String(16), nullable=False),
        sa.Column("party_name", sa.String(200), nullable=False),
        sa.Column("doc_no", sa.String(128), nullable=False),
        sa.Column("decision_date", sa.String(10), nullable=False),
        sa.Column("categories", sa.String(256), nullable=False),
        sa.Column("fine_yuan", sa.Numeric(18, 2)),
        sa.Column("authority_name", sa.String(200)),
        sa.Column("regime_id", sa.String(30), nullable=False),
        sa.Column("penalty_class", sa.String(30), nullable=False),
        sa.Column("published", sa.Boolean, nullable=False),
        sa.Column("repairable", sa.Boolean, nullable=False),
        sa.Column("publicity_min_until", sa.String(10)),
        sa.Column("publicity_max_until", sa.String(10), nullable=False),
        sa.Column("earliest_repair", sa.String(10)),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("source_status", sa.String(12)),
        sa.Column("notice_doc_id", sa.String(80)),
        sa.Column("notice_delivered_on", sa.String(10)),
        sa.Column("ended_on", sa.String(10)),
        sa.Column("repaired_on", sa.String(10)),
        sa.Column("updated_at", sa.String(40), nullable=False),
    )
    op.create_index("ix_credit_penalty_party", "cf_credit_penalty", ["party_key", "decision_date"])
    op.create_index("ix_credit_penalty_status", "cf_credit_penalty", ["status", "publicity_max_until"])
    op.create_table(
        "cf_credit_document",
        sa.Column("doc_id", sa.String(80), primary_key=True),
        sa.Column("doc_type", sa.String(30), nullable=False),
        sa.Column("doc_no", sa.String(80), nullable=False, unique=True),
        sa.Column("subject_id", sa.String(300), nullable=False),
        sa.Column("issued_on", sa.String(10), nullable=False),
        sa.Column("content", sa.Text, nullable=False),
        sa.Column("sha256", sa.String(64), nullable=False),
        sa.Column("delivered_on", sa.String(10)),
        sa.Column("delivery_method", sa.String(40)),
        sa.Column("delivered_by", sa.String(80)),
        sa.Column("created_at", sa.String(40), nullable=False),
    )
    op.create_index("ix_credit_document_subject", "cf_credit_document", ["subject_id"])
    op.create_table(
        "cf_credit_check_log",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("at", sa.String(40), nullable=False),
        sa.Column("asked_by", sa.String(80), nullable=False),
        sa.Column("channel", sa.String(12), nullable=False),
        sa.Column("purpose", sa.String(20), nullable=False),
        sa.Column("query", sa.String(80), nullable=False),
        sa.Column("valid", sa.Boolean, nullable=False),
        sa.Column("verdict", sa.String(8)),
        sa.Column("answer", sa.Text, nullable=False),
    )
    op.create_index("ix_credit_check_at", "cf_credit_check_log", ["at"])


def downgrade() -> None:
    op.drop_index("ix_credit_check_at", table_name="cf_credit_check_log")
    op.drop_table("cf_credit_check_log")
    op.drop_index("ix_credit_document_subject", table_name="cf_credit_document")
    op.drop_table("cf_credit_document")
    op.drop_index("ix_credit_penalty_party", table_name="cf_credit_penalty")
    op.drop_index("ix_credit_penalty_status", table_name="cf_credit_penalty")
    op.drop_table("cf_credit_penalty")
    op.drop_index("ix_credit_request_subject", table_name="cf_credit_request")
    op.drop_table("cf_credit_request")
    op.drop_index("ix_credit_objection_case", table_name="cf_credit_objection")
    op.drop_table("cf_credit_objection")
    op.drop_index("ix_credit_event_subject", table_name="cf_credit_event")
    op.drop_table("cf_credit_event")
    op.drop_index("ix_credit_case_party", table_name="cf_credit_case")
    op.drop_index("ix_credit_case_state", table_name="cf_credit_case")
    op.drop_table("cf_credit_case")
