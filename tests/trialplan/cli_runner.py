"""Running the real command line in-process against a given store."""

from __future__ import annotations

import tempfile
from pathlib import Path

from click.testing import Result
from sqlalchemy.engine import make_url
from typer.testing import CliRunner

from trialplan.cli import app
from trialplan.settings import EXPORTS_ENV

runner = CliRunner()
# `trialplan demo` writes its workbooks to $TRIALPLAN_EXPORTS, else beside a SQLite store's
# file (a test's temporary folder), else ./exports: the repository when a test runs it on
# PostgreSQL. Those go here instead, one folder per database, removed when the run ends.
_EXPORTS = tempfile.TemporaryDirectory(prefix="trialplan-test-exports-")


def _exports(url: str) -> str | None:
    """$TRIALPLAN_EXPORTS for a command on ``url`` (None: unset, the store's own folder)."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite" and parsed.database not in (None, "", ":memory:"):
        return None
    return str(Path(_EXPORTS.name) / (parsed.database or "default") / "exports")


def trialplan(url: str, *args: str) -> Result:
    """`trialplan ARGS` on the store at ``url``, as user "tester"."""
    return runner.invoke(app, list(args), env={"TRIALPLAN_DATABASE_URL": url,
                                               "TRIALPLAN_USER": "tester",
                                               EXPORTS_ENV: _exports(url)})
