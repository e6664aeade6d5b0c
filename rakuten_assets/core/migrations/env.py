"""Alembic environment: runs on the connection `upgrade_schema` hands over (never a URL of its
own, so the same code migrates SQLite and PostgreSQL, in-process or from `rakuten migrate`)."""

from alembic import context

from rakuten_assets.core.store import Base

connection = context.config.attributes.get("connection")
if connection is None:
    raise RuntimeError("run migrations through rakuten_assets.core.migrations.upgrade_schema "
                       "(`rakuten migrate`), which supplies the database connection")

context.configure(connection=connection, target_metadata=Base.metadata,
                  # SQLite alters tables by copying them; batch mode does that for us.
                  render_as_batch=connection.dialect.name == "sqlite")
with context.begin_transaction():
    context.run_migrations()
