"""Credit tables: ``party_code`` on ``cf_credit_case`` and ``cf_credit_penalty`` (#19 §3, the credit side).

A natural person's ``party_key`` becomes the blind index of their ID number (``creditflow.core.pii``) and
their ``party_name`` is sealed; the ID number itself is kept only here, sealed (SM4-GCM), for what needs the
clear value: the listing sent to the platform (``SX_XDR_ZJHM``) and the masked line of a document. NULL for
an organisation, whose code stays ``party_key``. The conversion of existing rows is ``0018_encrypt_pii``
(``docs/pii-columns-credit.md``), which follows this revision.

Developed on top of 0016; it follows 0017 (machine clients) once that is merged, and 0018 follows it.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0017b"
down_revision = "0017"
branch_labels = None
depends_on = None

_TABLES = ("cf_credit_case", "cf_credit_penalty")


def upgrade() -> None:
    for table in _TABLES:
        with op.batch_alter_table(table) as batch:
            batch.add_column(sa.Column("party_code", sa.String(120)))


def downgrade() -> None:
    for table in _TABLES:
        with op.batch_alter_table(table) as batch:
            batch.drop_column("party_code")
