"""Alembic environment: runs on the engine handed over by planner.store."""

from alembic import context

from planner import budget_tables, payment_tables, user_tables  # noqa: F401  (their tables join Base.metadata)
from planner.tables import Base

engine = context.config.attributes["engine"]
with engine.begin() as connection:
    context.configure(connection=connection, target_metadata=Base.metadata,
                      render_as_batch=connection.dialect.name == "sqlite")
    context.run_migrations()
