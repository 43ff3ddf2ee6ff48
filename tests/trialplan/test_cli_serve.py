"""`trialplan users add|list` and `trialplan serve`, as a user runs them."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session

from planner.store import make_engine
from planner.user_tables import AppUser
from planner.users import password_matches
from tests.trialplan.cli_runner import runner, trialplan
from trialplan.cli import app

BIN = Path(sys.executable).parent


def add(url: str, name: str, role: str, password: str):  # noqa: ANN201
    return runner.invoke(app, ["users", "add", name, "--role", role, "--password-stdin"],
                         input=password + "\n", env={"TRIALPLAN_DATABASE_URL": url,
                                                     "TRIALPLAN_USER": "admin"})


def test_users_add_and_list(store_url: str) -> None:  # noqa: ANN001 - SQLite and PostgreSQL
    assert trialplan(store_url, "init").exit_code == 0
    result = add(store_url, "fred", "finance", "a-long-password")
    assert result.exit_code == 0, result.output
    assert "user fred added with role finance" in result.stdout
    refused = add(store_url, "fred", "auditor", "a-long-password")
    assert refused.exit_code == 2 and "role 'auditor': expected one of pm, finance, viewer" \
        in refused.stderr
    short = add(store_url, "vic", "viewer", "short")
    assert short.exit_code == 2 and "at least 8 characters" in short.stderr
    listed = trialplan(store_url, "users", "list")
    assert listed.stdout.splitlines() == ["fred\tfinance"]
    with Session(make_engine(store_url)) as session:
        user = session.scalars(select(AppUser)).one()
    assert password_matches("a-long-password", user.password_hash)
    assert "a-long-password" not in user.password_hash


def test_serve_refuses_to_start_without_users(store_url: str) -> None:  # noqa: ANN001
    assert trialplan(store_url, "init").exit_code == 0
    result = trialplan(store_url, "serve", "--port", "1")
    assert result.exit_code == 2
    assert "nobody can log in yet" in result.stderr


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def test_serve_answers_with_the_login_page(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'store.db'}"
    assert trialplan(url, "init").exit_code == 0
    assert add(url, "ana", "pm", "a-long-password").exit_code == 0
    port = _free_port()
    server = subprocess.Popen([str(BIN / "trialplan"), "serve", "--port", str(port)],
                              env={**os.environ, "TRIALPLAN_DATABASE_URL": url},
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        page = None
        deadline = time.monotonic() + 60
        while page is None and time.monotonic() < deadline:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/portfolio") as answer:
                    page = (answer.geturl(), answer.read().decode())
            except (urllib.error.URLError, ConnectionError):
                time.sleep(0.3)
        assert page is not None, "the server did not answer within 60 s"
        where, html = page
        assert "/login?next=%2Fportfolio" in where  # every page asks for a login first
        assert 'name="password"' in html and "trialplan" in html
        assert "cdn." not in html  # works with no network: nothing fetched from a CDN
    finally:
        server.terminate()
        output = server.communicate(timeout=30)[0]
    assert f"at http://localhost:{port}/" in output
