"""Shared fixtures: a fresh store on SQLite and, when available, on PostgreSQL.

CI starts a throwaway PostgreSQL cluster and sets TEST_POSTGRES_URL; there a
missing server is a failure, not a skip.
"""

from __future__ import annotations

import os
import sqlite3
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine, create_engine, text

from planner.store import make_engine, upgrade
from planner.tables import Base

PILOT = Path(__file__).resolve().parents[1] / "trialplan" / "data" / "cdiscpilot01"
POSTGRES_URL_ENV = "TEST_POSTGRES_URL"


def _postgres_database() -> Iterator[str]:
    base_url = os.environ.get(POSTGRES_URL_ENV)
    if not base_url:
        if os.environ.get("CI"):
            pytest.fail(f"{POSTGRES_URL_ENV} is not set: CI must test the real PostgreSQL")
        pytest.skip(f"{POSTGRES_URL_ENV} not set (run .ci/run for the PostgreSQL tests)")
    name = f"tp_{uuid.uuid4().hex[:12]}"
    admin = create_engine(base_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield base_url.rsplit("/", 1)[0] + f"/{name}"
    finally:
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@pytest.fixture(params=["sqlite", "postgresql"])
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """URL of an empty database of each kind (not yet initialised)."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'store.db'}"
    else:
        yield from _postgres_database()


@pytest.fixture
def store(store_url: str) -> Iterator[Engine]:
    """An initialised store (schema at head, countries loaded) on SQLite and PostgreSQL."""
    engine = make_engine(store_url)
    upgrade(engine)
    yield engine
    engine.dispose()


def snapshot(engine: Engine) -> dict[str, list[tuple]]:
    """Every row of every table, sorted: compare before/after to prove nothing changed."""
    with engine.connect() as connection:
        return {
            name: sorted(tuple(map(repr, row)) for row in
                          connection.execute(table.select()).all())
            for name, table in Base.metadata.tables.items()
        }


@pytest.fixture(scope="session")
def demo_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The demo portfolio built once per test run (SQLite file): copy it, never write it."""
    from tests.trialplan.cli_runner import trialplan  # the CLI only where a test needs it

    path = Path(tmp_path_factory.mktemp("demo-template")) / "demo.db"
    result = trialplan(f"sqlite:///{path}", "demo")
    if result.exit_code != 0:
        pytest.fail(f"the demo did not build: {result.output}")
    return path


def copy_store(template: Path, folder: Path) -> str:
    """URL of a private copy of a SQLite store, free to change (SQLite's backup API: a
    file copy would miss what is still in the write-ahead log)."""
    copy = folder / "demo.db"
    source, target = sqlite3.connect(template), sqlite3.connect(copy)
    try:
        source.backup(target)
    finally:
        source.close()
        target.close()
    return f"sqlite:///{copy}"


@pytest.fixture
def demo_url(demo_template: Path, tmp_path: Path) -> str:
    """A private copy of the demo store for one test."""
    return copy_store(demo_template, tmp_path)
