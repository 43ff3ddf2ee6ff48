"""Run-time settings, from the environment."""

from __future__ import annotations

import getpass
import os
from pathlib import Path

from sqlalchemy.engine import make_url

ACTOR_ENV = "TRIALPLAN_USER"
ACTOR_LENGTH = 100  # the audit log's actor column


def actor() -> str:
    """Who is making changes, for the audit trail: $TRIALPLAN_USER, else the OS user."""
    named = os.environ.get(ACTOR_ENV, "").strip()
    if named:
        return named[:ACTOR_LENGTH]
    try:
        return getpass.getuser()[:ACTOR_LENGTH]
    except (KeyError, OSError):
        return "unknown"


EXPORTS_ENV = "TRIALPLAN_EXPORTS"


def exports_folder(database_url: str) -> Path:
    """Where the demo writes its files: $TRIALPLAN_EXPORTS, else beside a SQLite store's
    file, else ./exports."""
    named = os.environ.get(EXPORTS_ENV, "").strip()
    if named:
        return Path(named)
    url = make_url(database_url)
    if url.get_backend_name() == "sqlite" and url.database not in (None, "", ":memory:"):
        return Path(url.database).resolve().parent / "exports"
    return Path.cwd() / "exports"
