"""Shared fixtures: a fresh store on SQLite and, when available, on PostgreSQL.

CI starts a throwaway PostgreSQL cluster and sets TEST_POSTGRES_URL; there a
missing server is a failure, not a skip.
"""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine, create_engine, text
from sqlalchemy.engine import make_url

from planner.store import current_revision, head_revision, make_engine, upgrade
from planner.tables import Base
from tests.demo_store import DemoBuildError, demo_store

PILOT = Path(__file__).resolve().parents[1] / "trialplan" / "data" / "cdiscpilot01"
POSTGRES_URL_ENV = "TEST_POSTGRES_URL"


def _postgres_database(template: str | None = None) -> Iterator[str]:
    """URL of a new PostgreSQL database, empty or a copy of database ``template``; dropped
    afterwards."""
    base_url = os.environ.get(POSTGRES_URL_ENV)
    if not base_url:
        if os.environ.get("CI"):
            pytest.fail(f"{POSTGRES_URL_ENV} is not set: CI must test the real PostgreSQL")
        pytest.skip(f"{POSTGRES_URL_ENV} not set (run .ci/run for the PostgreSQL tests)")
    name = f"tp_{uuid.uuid4().hex[:12]}"
    copy_of = f' TEMPLATE "{template}"' if template else ""
    admin = create_engine(base_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}"{copy_of}'))
    try:
        yield base_url.rsplit("/", 1)[0] + f"/{name}"
    finally:
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def _initialise(url: str) -> None:
    engine = make_engine(url)
    upgrade(engine)
    engine.dispose()  # no connection left: PostgreSQL copies only an unused template


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A SQLite store initialised once per test run (`trialplan init`'s upgrade): copy it."""
    path = tmp_path_factory.mktemp("store-template") / "store.db"
    _initialise(f"sqlite:///{path}")
    return path


@pytest.fixture(scope="session")
def postgres_template() -> Iterator[str]:
    """Name of a PostgreSQL database initialised once per test run: CREATE DATABASE ...
    TEMPLATE copies it."""
    for url in _postgres_database():
        _initialise(url)
        yield url.rsplit("/", 1)[1]


def initialised_url(request: pytest.FixtureRequest, kind: str, folder: Path) -> Iterator[str]:
    """URL of a new store of ``kind`` ("sqlite": a file in ``folder``, or "postgresql"),
    initialised: a copy of the store the run initialised once (migrations and reference
    data), which costs a fraction of initialising each one."""
    if kind == "sqlite":
        yield from database_copy(f"sqlite:///{request.getfixturevalue('sqlite_template')}",
                                 folder)
    else:
        yield from _postgres_database(request.getfixturevalue("postgres_template"))


def database_copy(url: str, folder: Path) -> Iterator[str]:
    """URL of a private copy of the store at ``url``: a SQLite file in ``folder``, or a
    PostgreSQL database (CREATE DATABASE ... TEMPLATE: nothing may be connected to the
    original), dropped afterwards."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        path = folder / "store.db"
        _copy_sqlite(Path(parsed.database), path)
        yield f"sqlite:///{path}"
    else:
        yield from _postgres_database(parsed.database)


@pytest.fixture(params=["sqlite", "postgresql"])
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """URL of a database of each kind: empty (not yet initialised), unless the test asks
    for ``store`` too; then already initialised (initialised_url). The migrations still
    run on empty databases: the templates', and in the tests of `trialplan init`."""
    if "store" in request.fixturenames:
        yield from initialised_url(request, request.param, tmp_path)
    elif request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'store.db'}"
    else:
        yield from _postgres_database()


@pytest.fixture
def store(store_url: str) -> Iterator[Engine]:
    """An initialised store (schema at head, countries loaded) on SQLite and PostgreSQL."""
    engine = make_engine(store_url)
    if current_revision(engine) != head_revision():  # not a copy of the template
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


DEMO_FOLDER = "demo-template"


def _run_folder(config: pytest.Config) -> Path:
    """The folder every process of this run shares (a parallel run's workers each have
    their own inside the controller's)."""
    base = config._tmp_path_factory.getbasetemp()  # noqa: SLF001 (pytest's own factory)
    return base.parent if hasattr(config, "workerinput") else base


def _start_demo_build(config: pytest.Config, items: list[pytest.Item]) -> None:
    """A parallel run's first worker starts building the demo store in the background as
    soon as it has collected a test that needs it (tests.demo_store), so the store is
    ready by the time a worker reaches such a test; a serial run builds it when a test
    first asks (demo_template)."""
    worker = getattr(config, "workerinput", {}).get("workerid")
    if worker != "gw0" or not any("demo_template" in i.fixturenames for i in items):
        return
    folder = _run_folder(config) / DEMO_FOLDER
    folder.mkdir(parents=True, exist_ok=True)
    with (folder / "build.log").open("w") as log:
        config._demo_build = subprocess.Popen(  # noqa: SLF001 (waited for at the end)
            [sys.executable, "-m", "tests.demo_store", str(folder)], stdout=log,
            stderr=subprocess.STDOUT, cwd=Path(__file__).resolve().parents[1])


def pytest_sessionfinish(session: pytest.Session) -> None:
    """The background build ends before its worker does (other workers may wait for it)."""
    build = getattr(session.config, "_demo_build", None)
    if build is not None:
        build.wait()


def _heavy_seconds(item: pytest.Item) -> float:
    mark = item.get_closest_marker("heavy")
    return float(mark.args[0]) if mark else 0.0


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Files with a ``heavy(seconds)`` test first, the longest first, and that test first
    in its file: a parallel run hands whole files out in this order (``.ci/run`` keeps
    it), so the longest work starts while the demo store builds and the workers finish
    together on short files."""
    weight: dict[Path, float] = {}
    first: dict[Path, int] = {}
    for position, item in enumerate(items):
        weight[item.path] = max(weight.get(item.path, 0.0), _heavy_seconds(item))
        first.setdefault(item.path, position)
    items.sort(key=lambda item: (-weight[item.path], first[item.path],
                                 -_heavy_seconds(item)))
    _start_demo_build(config, items)


@pytest.fixture(scope="session")
def demo_template(request: pytest.FixtureRequest) -> Path:
    """The demo portfolio built once per test run (SQLite file): copy it, never write it.

    One build serves every worker of a parallel run (tests.demo_store)."""
    try:
        return demo_store(_run_folder(request.config) / DEMO_FOLDER)
    except DemoBuildError as exc:
        pytest.fail(f"the demo did not build: {exc}")


def _copy_sqlite(source: Path, target: Path) -> None:
    """SQLite's backup API: a file copy would miss what is still in the write-ahead log."""
    origin, copy = sqlite3.connect(source), sqlite3.connect(target)
    try:
        origin.backup(copy)
    finally:
        origin.close()
        copy.close()


def copy_store(template: Path, folder: Path) -> str:
    """URL of a private copy of a SQLite store, free to change."""
    copy = folder / "demo.db"
    _copy_sqlite(template, copy)
    return f"sqlite:///{copy}"


@pytest.fixture
def demo_url(demo_template: Path, tmp_path: Path) -> str:
    """A private copy of the demo store for one test."""
    return copy_store(demo_template, tmp_path)
