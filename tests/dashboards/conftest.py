"""Fixtures of the dashboard tests: the demo store with one user per role, a running
server on it, and Debian's Chromium driven by Playwright."""

from __future__ import annotations

import os
import shutil
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine

from dashboards.source import StoreReader
from planner.store import make_engine, transaction
from planner.users import add_user
from tests.conftest import copy_store

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
ARTIFACTS = Path(os.environ.get("TRIALPLAN_ARTIFACTS", ROOT / "test-artifacts")) / "screenshots"
USERS = {"ana": ("pm", "ana-password-1"), "fred": ("finance", "fred-password-1"),
         "vic": ("viewer", "vic-password-1")}


def with_users(url: str) -> Engine:
    engine = make_engine(url)
    with transaction(engine, "tests") as session:
        for name, (role, password) in USERS.items():
            add_user(session, name, role, password)
    return engine


@pytest.fixture(scope="module")
def shared_engine(demo_template: Path, tmp_path_factory: pytest.TempPathFactory
                  ) -> Iterator[Engine]:
    """The demo store with the three users, shared by a module's read-only tests."""
    engine = with_users(copy_store(demo_template, tmp_path_factory.mktemp("dash")))
    yield engine
    engine.dispose()


@pytest.fixture(scope="module")
def shared_reader(shared_engine: Engine) -> Iterator[StoreReader]:
    reader = StoreReader(shared_engine)
    yield reader
    reader.close()


@pytest.fixture
def own_engine(demo_url: str) -> Iterator[Engine]:
    """A private demo store with the three users, for a test that writes."""
    engine = with_users(demo_url)
    yield engine
    engine.dispose()


@pytest.fixture
def own_reader(own_engine: Engine) -> Iterator[StoreReader]:
    reader = StoreReader(own_engine)
    yield reader
    reader.close()


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture(scope="session")
def browser_type_launch_args(browser_type_launch_args: dict) -> dict:
    """Debian's Chromium (Playwright cannot download its own here)."""
    return {**browser_type_launch_args, "executable_path": CHROMIUM,
            "args": ["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                     "--disable-background-networking", "--disable-component-update",
                     "--disable-sync", "--no-first-run"]}


@pytest.fixture(scope="session")
def browser_context_args(browser_context_args: dict) -> dict:
    return {**browser_context_args, "viewport": {"width": 1400, "height": 1000}}
