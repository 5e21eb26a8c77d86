"""Alembic environment of the warehouse, run by :func:`creditflow.core.migrations.run`.

The caller hands over an open connection in ``config.attributes["connection"]`` (inside its transaction,
holding the migration lock); offline mode (``--sql``) renders the SQL for ``sqlalchemy.url`` instead.
"""

from __future__ import annotations

from typing import Any

from alembic import context

from creditflow.core import warehouse
from creditflow.core.migrations import VERSION_TABLE

config = context.config
options: dict[str, Any] = {"target_metadata": warehouse.metadata, "version_table": VERSION_TABLE,
           "render_as_batch": True, "compare_type": True}

if context.is_offline_mode():
    context.configure(url=config.get_main_option("sqlalchemy.url"), literal_binds=True, **options)
    with context.begin_transaction():
        context.run_migrations()
else:
    connection = config.attributes.get("connection")
    if connection is None:
        raise RuntimeError("run migrations through creditflow.core.warehouse.upgrade or `creditflow db upgrade`")
    context.configure(connection=connection, **options)
    with context.begin_transaction():
        context.run_migrations()
