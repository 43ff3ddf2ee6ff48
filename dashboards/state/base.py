"""What every page's state shares: the store reader, who is logged in, the last error.

Long actions (a rebalance, an approval, a what-if) run off the UI thread in two
steps: the work returns an :class:`Outcome` and touches no parameter; the page
then shows it on the UI thread. Parameters changed from a worker thread would
redraw the page's models from that thread, racing the browser's own updates
(Bokeh answers "reference … isn't known").

A computation that refuses its input (a study without a work order, a forecast
with nothing randomized) raises a ValueError with a message meant for people:
the page shows that message. Anything else is a fault: the page says the
computation failed and names the error; the traceback goes to the server log.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Generic, TypeVar

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


@dataclass(frozen=True)
class Outcome(Generic[T]):
    """A computation's result, or (``value`` None) the message saying why there is none."""

    value: T | None = None
    error: str = ""


def outcome(compute: Callable[[], T]) -> Outcome[T]:
    """``compute()`` as an :class:`Outcome`; safe on any thread (sets no parameter).
    A refusal by role is not an outcome: it raises."""
    try:
        return Outcome(compute())
    except NotAllowed:
        raise
    except Exception as exc:  # noqa: BLE001 - every failure becomes the page's message
        return Outcome(None, explain(exc))


class PageState(param.Parameterized):
    """Base of the pages' states: ``error`` holds the message of the last failure."""

    error = param.String(default="", doc="why the page has no figures (empty: it has)")

    def __init__(self, reader: StoreReader, user: str, role: AppRole | None,
                 **params: object) -> None:
        self.reader, self.user, self.role = reader, user, role
        super().__init__(**params)

    def take_valid(self, values: dict[str, object]) -> None:
        """Set each of ``values`` the parameter accepts; one it refuses (a link's gap of
        0.9, a study the page does not offer) is left at what it was."""
        for name, value in values.items():
            with contextlib.suppress(ValueError):
                self.param.update(**{name: value})

    def attempt(self, compute: Callable[[], T]) -> T | None:
        """``compute()``, or None with ``error`` set to what went wrong (UI thread only)."""
        done = outcome(compute)
        self.error = done.error
        return done.value
