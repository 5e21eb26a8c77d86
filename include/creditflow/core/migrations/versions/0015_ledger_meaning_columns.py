"""What the ledger's ``message`` prefixes carried becomes columns of ``cf_ledger`` (issue #17.1).

Until now meaning travelled in ``message``: ``credit:<reason>`` marked the operations the credit capability
queued (and carried the reason sent with its withdrawals, or — once rejected — the platform's text behind
the mark), ``replaced_by:<record id>`` marked the withdrawal of a copy replaced by its original. Readers
parsed the prefix, and a writer that set ``message`` silently changed who owned a row. Now:

* ``origin`` — ``credit`` for every ``dishonest_list`` row and every row marked ``credit:``, else ``sgs``;
* ``reason`` — the credit reason (the text behind ``credit:`` of a row not rejected; a rejected row's
  text is the platform's, its reason was already gone);
* ``replaces_record_id`` — the record id behind ``replaced_by:``;
* ``op_day`` — the data day of the run that queued the operation, from ``run_key``
  (``sgs_penalty|2026-11-03``, ``credit_list|2026-11-03``, ``credit_repair:2026-01-05``);

and ``message`` keeps only the platform's text (the prefixes are stripped). Every row is kept. The
columns are added in place (``batch_alter_table`` on SQLite), so the upgrade is a few UPDATEs; ``op_day``
of the ``<dag>|<day>`` keys (nearly all rows) is one UPDATE, the few other keys are read distinct and set
one key at a time. The downgrade writes the prefixes back and drops the columns.
"""

from __future__ import annotations

import re

import sqlalchemy as sa
from alembic import op

revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None

CREDIT, REPLACED = "credit:", "replaced_by:"
_DAY = re.compile(r"\d{4}-\d{2}-\d{2}")


def _day_after_bar(dialect: str) -> tuple[str, str]:
    """SQL for the 10 characters after the first ``|`` of run_key, and the test that they are a date."""
    if dialect == "postgresql":
        return ("substr(run_key, strpos(run_key, '|') + 1, 10)",
                "substr(run_key, strpos(run_key, '|') + 1, 10) ~ '^[0-9]{4}-[0-9]{2}-[0-9]{2}$'")
    return ("substr(run_key, instr(run_key, '|') + 1, 10)",
            "substr(run_key, instr(run_key, '|') + 1, 10) GLOB '[0-9][0-9][0-9][0-9]-[0-9][0-9]-[0-9][0-9]'")


def upgrade() -> None:
    with op.batch_alter_table("cf_ledger") as batch:
        batch.add_column(sa.Column("origin", sa.String(12), nullable=False, server_default="sgs"))
        batch.add_column(sa.Column("replaces_record_id", sa.String(300)))
        batch.add_column(sa.Column("reason", sa.Text))
        batch.add_column(sa.Column("op_day", sa.String(10)))
    bind = op.get_bind()
    n_credit, n_replaced = len(CREDIT) + 1, len(REPLACED) + 1  # SQL substr counts from 1
    op.execute(f"UPDATE cf_ledger SET origin = 'credit' WHERE kind = 'dishonest_list' OR message LIKE '{CREDIT}%'")
    op.execute(f"UPDATE cf_ledger SET reason = substr(message, {n_credit}), message = NULL "
               f"WHERE message LIKE '{CREDIT}%' AND state <> 'rejected'")
    op.execute(f"UPDATE cf_ledger SET message = substr(message, {n_credit}) "
               f"WHERE message LIKE '{CREDIT}%' AND state = 'rejected'")
    op.execute(f"UPDATE cf_ledger SET replaces_record_id = substr(message, {n_replaced}), message = NULL "
               f"WHERE message LIKE '{REPLACED}%'")
    day, is_day = _day_after_bar(bind.dialect.name)
    op.execute(f"UPDATE cf_ledger SET op_day = {day} WHERE run_key LIKE '%|%' AND {is_day}")
    others = [k for (k,) in bind.execute(sa.text(
        "SELECT DISTINCT run_key FROM cf_ledger WHERE op_day IS NULL AND run_key IS NOT NULL"))]
    for key in others:
        m = _DAY.search(key)
        if m:
            bind.execute(sa.text("UPDATE cf_ledger SET op_day = :day WHERE run_key = :key AND op_day IS NULL"),
                         {"day": m.group(0), "key": key})


def downgrade() -> None:
    """The prefixes back in ``message`` (a credit row's reason, or a rejected one's platform text)."""
    op.execute(f"UPDATE cf_ledger SET message = '{CREDIT}' || COALESCE(reason, '') "
               "WHERE origin = 'credit' AND state <> 'rejected'")
    op.execute(f"UPDATE cf_ledger SET message = '{CREDIT}' || COALESCE(message, '') "
               "WHERE origin = 'credit' AND state = 'rejected'")
    op.execute(f"UPDATE cf_ledger SET message = '{REPLACED}' || replaces_record_id "
               "WHERE replaces_record_id IS NOT NULL AND state IN ('pending', 'sent')")
    with op.batch_alter_table("cf_ledger") as batch:
        batch.drop_column("op_day")
        batch.drop_column("reason")
        batch.drop_column("replaces_record_id")
        batch.drop_column("origin")
