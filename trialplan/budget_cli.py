"""`trialplan budget` and `trialplan export sponsor-review`: earned value of a study's
sponsor budget, and the workbook for the sponsor's budget review (docs/SPONSOR_BUDGET.md)."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Annotated

import pandas as pd
import typer
from openpyxl.utils.exceptions import InvalidFileException

from contracts.earned_value import budget_json
from contracts.review_import import WorkbookError, change_order_from_workbook
from contracts.review_workbook import write_review
from contracts.sponsor_budget import BudgetInputError, sponsor_budget
from contracts.sponsor_review import review_data
from planner.importing.readers import RawTable
from planner.importing.run import import_tables
from planner.store import transaction as store_transaction
from trialplan import settings
from trialplan.edge import date_option, edge, fail, ready_engine

export_app = typer.Typer(no_args_is_help=True, help="Files for others: the sponsor review.")
COLUMNS = ["service_line", "bac", "pv", "ev", "ac", "cpi", "spi", "eac", "etc", "vac"]


def budget(
    study: Annotated[str, typer.Argument(help="study id (protocol)")],
    as_of: Annotated[str | None, typer.Option(
        "--as-of", help="as of this date YYYY-MM-DD (default the study's data cut)")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="machine-readable")] = False,
) -> None:
    """Budget vs actuals: BAC, PV, EV, AC, CPI, SPI, EAC, ETC, VAC per service line."""
    cut = date_option("--as-of", as_of)
    with store_transaction(ready_engine(), settings.actor()) as session:
        try:
            result = sponsor_budget(session, study, cut)
        except BudgetInputError as exc:
            fail(str(exc))
    rows = budget_json(result.evm)
    if as_json:
        typer.echo(json.dumps(rows, indent=2))
        return
    typer.echo(f"{study}: sponsor budget as of {result.as_of} ({result.currency}; "
               f"{int(result.change_orders['effective'].sum())} change orders in force)")
    table = pd.DataFrame(rows)[COLUMNS].fillna("-")
    typer.echo(table.to_string(index=False))


@export_app.command("sponsor-review")
@edge
def sponsor_review(
    study: Annotated[str, typer.Argument(help="study id (protocol)")],
    output: Annotated[Path, typer.Option("-o", "--output", help="the workbook, .xlsx")],
    as_of: Annotated[str | None, typer.Option(
        "--as-of", help="as of this date YYYY-MM-DD (default the study's data cut)")] = None,
) -> None:
    """The sponsor budget review workbook: summary, service lines, burn, site payments,
    pass-throughs, change orders, recruitment and assumptions, with live formulas."""
    if output.suffix.lower() != ".xlsx":
        fail(f"-o {output}: expected a file name ending in .xlsx")
    if not output.resolve().parent.is_dir():
        fail(f"-o {output}: the folder {output.resolve().parent} does not exist")
    cut = date_option("--as-of", as_of)
    with store_transaction(ready_engine(), settings.actor()) as session:
        try:
            started = time.perf_counter()
            data = review_data(session, sponsor_budget(session, study, cut))
            computed = time.perf_counter()
        except BudgetInputError as exc:
            fail(str(exc))
    try:
        write_review(data, output)
    except OSError as exc:
        fail(f"-o {output}: cannot write the workbook: {exc}")
    written = time.perf_counter()
    typer.echo(f"{study}: sponsor review as of {data.as_of} written to {output} "
               f"(computed in {computed - started:.1f} s, written in {written - computed:.1f} s)")


def change_order(
    study: Annotated[str, typer.Argument(help="study id (protocol)")],
    workbook: Annotated[Path, typer.Argument(help="a sponsor review workbook whose Service "
                                             "lines sheet was edited (units, unit price)")],
    change_order_id: Annotated[str, typer.Option("--id", help="the change order's id, "
                                                 "e.g. CO-03")],
    effective: Annotated[str, typer.Option(help="YYYY-MM-DD the change takes effect")],
    reason: Annotated[str, typer.Option(help="why the budget changes")],
    dry_run: Annotated[bool, typer.Option("--dry-run", help="show what would change")] = False,
) -> None:
    """Import the lines edited in a review workbook as a change order (all or nothing)."""
    when = date_option("--effective", effective)
    if not workbook.is_file():
        fail(f"{workbook}: no such file")
    try:
        rows = change_order_from_workbook(workbook, study, change_order_id, when, reason)
    except (WorkbookError, InvalidFileException, KeyError) as exc:
        fail(f"{workbook}: {exc}")
    if rows.empty:
        typer.echo(f"{workbook}: no units or unit price changed on the Service lines sheet; "
                   "nothing to import")
        return
    with store_transaction(ready_engine(), settings.actor(), commit=not dry_run) as session:
        raw = RawTable.from_frame(f"{workbook.name} (Service lines)", rows)
        result = import_tables(session, "workorders", [raw], settings.actor())
    verb = "would change" if dry_run else "changed"
    typer.echo(f"change order {change_order_id} of {study} from {when}: {len(rows)} service "
               f"lines; {verb} {result.changed} rows")
    for row in rows.itertuples():
        typer.echo(f"  {row.service_line:<20} units {row.units:>12}  unit price "
                   f"{row.unit_price} {row.currency}")
