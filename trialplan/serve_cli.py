"""`trialplan users add|list` and `trialplan serve`: who may log in, and the web app."""

from __future__ import annotations

import getpass
import sys
from typing import Annotated

import typer

from planner.domain import AppRole
from planner.store import database_url
from planner.store import transaction as store_transaction
from planner.users import UserInputError, add_user, user_list
from trialplan import settings
from trialplan.edge import edge, fail, ready_engine

users_app = typer.Typer(no_args_is_help=True, help="Who may log in to the web app.")
ROLES = ", ".join(r.value for r in AppRole)


def _password(from_stdin: bool) -> str:
    if from_stdin:
        return sys.stdin.readline().rstrip("\r\n")
    if not sys.stdin.isatty():
        fail("no terminal to ask the password on: give it with --password-stdin")
    first = getpass.getpass("password: ")
    if first != getpass.getpass("again: "):
        fail("the two passwords differ; nothing was changed")
    return first


@users_app.command("add")
@edge
def add(
    name: Annotated[str, typer.Argument(help="the user name to log in with")],
    role: Annotated[str, typer.Option(help=f"one of {ROLES}")],
    password_stdin: Annotated[bool, typer.Option(
        "--password-stdin", help="read the password from the first line of stdin")] = False,
) -> None:
    """Add a user (or give an existing one a new role and password)."""
    password = _password(password_stdin)
    with store_transaction(ready_engine(), settings.actor()) as session:
        try:
            _, created = add_user(session, name, role, password)
        except UserInputError as exc:
            fail(f"{exc}; nothing was changed")
    typer.echo(f"user {name} {'added' if created else 'updated'} with role {role}")


@users_app.command("list")
@edge
def list_users() -> None:
    """The users and their roles (never their passwords)."""
    with store_transaction(ready_engine(), settings.actor(), commit=False) as session:
        rows = user_list(session)
    for name, role in rows:
        typer.echo(f"{name}\t{role.value}")
    if not rows:
        typer.echo("no users yet: trialplan users add NAME --role " + "|".join(
            r.value for r in AppRole))


@edge
def serve(
    port: Annotated[int, typer.Option(min=1, max=65535, help="TCP port")] = 5006,
    address: Annotated[str, typer.Option(help="address to listen on (0.0.0.0: every "
                                         "interface)")] = "127.0.0.1",
    origin: Annotated[list[str] | None, typer.Option(
        help="host:port browsers reach the app at, when not the address itself "
             "(repeatable; behind a proxy or on another machine's name)")] = None,
    show: Annotated[bool, typer.Option("--show", help="open it in a browser")] = False,
) -> None:
    """The web app: portfolio, budget, recruitment, workload and payments pages."""
    from dashboards.server import serve as serve_pages  # Panel loads only for this command

    engine = ready_engine()
    with store_transaction(engine, settings.actor(), commit=False) as session:
        if not user_list(session):
            fail("nobody can log in yet: add a user first (trialplan users add NAME "
                 f"--role {'|'.join(r.value for r in AppRole)})")
    shown = "localhost" if address in ("0.0.0.0", "127.0.0.1") else address
    typer.echo(f"serving {database_url()} at http://{shown}:{port}/ (Ctrl-C stops it)")
    serve_pages(engine, port, address, origin, show=show)
