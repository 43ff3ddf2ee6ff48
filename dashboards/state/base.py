"""What every page's state shares: the store reader, who is logged in, the last error.

A computation that refuses its input (a study without a work order, a forecast
with nothing randomized) raises a ValueError with a message meant for people:
the page shows that message. Anything else is a fault: the page says the
computation failed and names the error; the traceback goes to the server log.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import TypeVar

import param

from dashboards.access import NotAllowed
from dashboards.source import StoreReader
from planner.domain import AppRole

T = TypeVar("T")
log = logging.getLogger("trialplan.dashboards")


def explain(exc: BaseException) -> str:
    """The message a page shows for ``exc``: its own words for refused input, else what
    failed (never a traceback)."""
    if isinstance(exc, ValueError | NotAllowed):
        return str(exc)
    log.exception("a dashboard computation failed", exc_info=exc)
    return f"The computation failed ({type(exc).__name__}: {exc}). The server log has the details."


class PageState(param.Parameterized):
    """Base of the pages' states: ``error`` holds the message of the last failure."""

    error = param.String(default="", doc="why the page has no figures (empty: it has)")
    busy = param.Boolean(default=False, doc="a long computation is running")

    def __init__(self, reader: StoreReader, user: str, role: AppRole | None,
                 **params: object) -> None:
        self.reader, self.user, self.role = reader, user, role
        super().__init__(**params)

    def attempt(self, compute: Callable[[], T]) -> T | None:
        """``compute()``, or None with ``error`` set to what went wrong."""
        try:
            value = compute()
        except NotAllowed:
            raise
        except Exception as exc:  # noqa: BLE001 - every failure becomes the page's message
            self.error = explain(exc)
            return None
        self.error = ""
        return value
