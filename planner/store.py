"""Opening the plan-of-record database: SQLite file by default, PostgreSQL by URL.

The edge (CLI command, dashboard action, test) owns the transaction through
:func:`transaction`; repository and import functions take a session and never
commit.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine, create_engine, event
from sqlalchemy.orm import Session, sessionmaker

from planner import audit as _audit  # noqa: F401  (registers the ORM audit hook)
from planner import budget_tables as _budget_tables  # noqa: F401  (tables in Base.metadata)
from planner import payment_freeze as _payment_freeze  # noqa: F401  (approved payment runs are frozen)
from planner import payment_tables as _payment_tables  # noqa: F401  (tables in Base.metadata)
from planner import user_tables as _user_tables  # noqa: F401  (tables in Base.metadata)
from planner.countries import ensure_countries

DATABASE_URL_ENV = "TRIALPLAN_DATABASE_URL"
DEFAULT_SQLITE_FILE = "trialplan.db"
_MIGRATIONS = Path(__file__).with_name("migrations")


def database_url(explicit: str | None = None) -> str:
    """The URL to use: explicit, else ``$TRIALPLAN_DATABASE_URL``, else ./trialplan.db."""
    if explicit:
        return explicit
    from_env = os.environ.get(DATABASE_URL_ENV, "").strip()
    if from_env:
        return from_env
    return f"sqlite:///{Path.cwd() / DEFAULT_SQLITE_FILE}"


def _sqlite_pragmas(dbapi_connection, _record) -> None:  # noqa: ANN001 - DBAPI hook
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()


def make_engine(url: str | None = None) -> Engine:
    """An engine for the store; SQLite gets foreign keys on and WAL journaling."""
    engine = create_engine(database_url(url))
    if engine.dialect.name == "sqlite":
        event.listen(engine, "connect", _sqlite_pragmas)
    return engine


def _alembic_config(engine: Engine) -> Config:
    config = Config()
    config.set_main_option("script_location", str(_MIGRATIONS))
    config.attributes["engine"] = engine
    return config


def upgrade(engine: Engine) -> str:
    """Create or upgrade the schema to the newest migration and load reference data."""
    command.upgrade(_alembic_config(engine), "head")
    with transaction(engine, actor="trialplan init") as session:
        ensure_countries(session)
    return current_revision(engine) or ""


def current_revision(engine: Engine) -> str | None:
    with engine.connect() as connection:
        return MigrationContext.configure(connection).get_current_revision()


def head_revision() -> str:
    script = ScriptDirectory.from_config(_alembic_config(create_engine("sqlite://")))
    return script.get_current_head() or ""


class SchemaOutOfDate(RuntimeError):
    """The database is missing or behind the code's migrations: run ``trialplan init``."""


def require_current_schema(engine: Engine) -> None:
    if current_revision(engine) != head_revision():
        raise SchemaOutOfDate(
            "the database is not initialised or not up to date; run `trialplan init`")


@contextmanager
def transaction(engine: Engine, actor: str, commit: bool = True) -> Iterator[Session]:
    """One unit of work by ``actor``: commit on success (unless ``commit`` is False, as
    for a dry run), roll back on any exception."""
    factory = sessionmaker(engine, expire_on_commit=False)
    with factory(info={"actor": actor}) as session:
        session.begin()
        try:
            yield session
        except BaseException:
            session.rollback()
            raise
        if commit:
            session.commit()
        else:
            session.rollback()
