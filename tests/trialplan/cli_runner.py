"""Running the real command line in-process against a given store."""

from __future__ import annotations

from click.testing import Result
from typer.testing import CliRunner

from trialplan.cli import app

runner = CliRunner()


def trialplan(url: str, *args: str) -> Result:
    """`trialplan ARGS` on the store at ``url``, as user "tester"."""
    return runner.invoke(app, list(args), env={"TRIALPLAN_DATABASE_URL": url,
                                               "TRIALPLAN_USER": "tester"})
