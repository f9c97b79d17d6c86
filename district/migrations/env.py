"""Alembic environment: always run programmatically by ``district.db.migrate``, which passes
an open connection in ``config.attributes["connection"]``."""

from alembic import context

from district.db import metadata

connection = context.config.attributes.get("connection")
if connection is None:
    raise RuntimeError("run migrations through district.db.migrate(engine)")

context.configure(
    connection=connection,
    target_metadata=metadata,
    render_as_batch=connection.dialect.name == "sqlite",  # SQLite cannot ALTER most things
)
with context.begin_transaction():
    context.run_migrations()
