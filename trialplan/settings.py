"""Run-time settings, from the environment."""

from __future__ import annotations

import getpass
import os

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
