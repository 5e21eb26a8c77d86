"""Machine clients of 诚信审核: ``cf_api_client`` — the licensing and procurement systems that call the integrity
endpoint with a credential of their own (issue #19 §2; ``creditflow.credit.clients``).

One row per client system: its id (part of the credential ``cfk_<id>.<secret>``), its Chinese name, the
SHA-256 of its secret (never the secret), the previous secret's hash while a rotation's grace period runs, its
scope (``integrity``, the only one) and rate limit (``limits`` notation, e.g. ``600/minute``), and who created,
rotated and revoked it and when. Rows are never deleted: a revoked client stays, so the audit log's
``client:<id>`` keeps naming a known system.

Frozen like the baseline: the table is spelled out here, not imported from the model.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0017"
down_revision = "0016"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "cf_api_client",
        sa.Column("client_id", sa.String(32), primary_key=True),
        sa.Column("name_zh", sa.String(100), nullable=False),
        sa.Column("scope", sa.String(20), nullable=False),
        sa.Column("rate_limit", sa.String(40), nullable=False),
        sa.Column("secret_hash", sa.String(64), nullable=False),
        sa.Column("previous_hash", sa.String(64)),
        sa.Column("previous_valid_until", sa.String(40)),
        sa.Column("created_at", sa.String(40), nullable=False),
        sa.Column("created_by", sa.String(80), nullable=False),
        sa.Column("rotated_at", sa.String(40)),
        sa.Column("rotated_by", sa.String(80)),
        sa.Column("revoked_at", sa.String(40)),
        sa.Column("revoked_by", sa.String(80)),
    )


def downgrade() -> None:
    op.drop_table("cf_api_client")
