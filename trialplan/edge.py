"""The command line's edge: refused input becomes a message on stderr and exit status 2.

DESIGN §8: every command exits 0 on success, 2 on bad input (1 when the database
cannot be reached), with the reason on stderr, never a traceback.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from functools import wraps
from typing import Any, NoReturn

import typer
from sqlalchemy import Engine
from sqlalchemy.exc import DataError, IntegrityError, OperationalError

from planner.fx import FxError
from planner.importing.issues import ImportRejected
from planner.recruitment.poisson_gamma import RecruitmentDataError
from planner.store import SchemaOutOfDate, database_url, make_engine, require_current_schema

BAD_INPUT = 2


def fail(message: str, code: int = BAD_INPUT) -> NoReturn:
    typer.echo(message, err=True)
    raise typer.Exit(code)


def edge(command: Callable[..., Any]) -> Callable[..., Any]:
    """Turn refused input into a clear message and exit status 2."""

    @wraps(command)
    def run(*args: Any, **kwargs: Any) -> Any:
        try:
            return command(*args, **kwargs)
        except ImportRejected as rejected:
            fail(f"import refused, nothing was changed:\n{rejected.report()}")
        except (SchemaOutOfDate, RecruitmentDataError) as exc:
            fail(str(exc))
        except FxError as exc:  # a rate the dated exchange-rate table lacks or refuses
            fail(f"{exc}: add or correct the rate in the exchange-rate table to work in "
                 "mixed currencies")
        except (DataError, IntegrityError) as exc:  # a limit the importers did not check
            fail(f"the database refused the data, nothing was changed: {exc.orig}")
        except OperationalError as exc:
            fail(f"cannot use the database {database_url()}: {exc.orig}", 1)

    return run


def ready_engine() -> Engine:
    """The configured store, refused (exit 2, with advice) when not at the newest schema."""
    engine = make_engine()
    require_current_schema(engine)
    return engine


def date_option(name: str, value: str | None) -> dt.date | None:
    try:
        return dt.date.fromisoformat(value) if value else None
    except ValueError:
        fail(f"{name} {value!r}: expected an ISO date YYYY-MM-DD")
