"""`trialplan budget` and `trialplan export sponsor-review`: earned value of a study's
sponsor budget, and the workbook for the sponsor's budget review (docs/SPONSOR_BUDGET.md)."""

from __future__ import annotations

import datetime as dt
import json
import os
import time
from dataclasses import replace
from pathlib import Path
from typing import Annotated

import pandas as pd
import typer
from openpyxl.utils.exceptions import InvalidFileException
from sqlalchemy.orm import Session

from contracts.budget_lines import BudgetError, budget_in_force
from contracts.earned_value import budget_json
from contracts.review_import import WorkbookError, change_order_from_workbook
from contracts.review_workbook import ReviewData, write_review
from contracts.sponsor_budget import BudgetInputError, sponsor_budget
from contracts.sponsor_review import review_data
from contracts.work_order_frames import load_work_order
from planner.forecast_runs import known_study_ids
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
    log = result.change_orders
    orders = int(log.loc[log["effective"].to_numpy(bool), "change_order"].nunique())
    typer.echo(f"{study}: sponsor budget as of {result.as_of} ({result.currency}; "
               f"{orders} change order{'' if orders == 1 else 's'} in force)")
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
    if output.is_dir():
        fail(f"-o {output}: is a folder; give the workbook's file name, e.g. "
             f"{output / (study + '.xlsx')}")
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
        except BudgetInputError as exc:  # its message names the study
            fail(str(exc))
        except BudgetError as exc:  # review_import.WorkbookError is one too
            fail(f"{study}: {exc}")
    try:
        _write_replacing(data, output)
    except BudgetError as exc:
        fail(f"{study}: {exc}")
    except OSError as exc:
        fail(f"-o {output}: cannot write the workbook: {exc}")
    written = time.perf_counter()
    typer.echo(f"{study}: sponsor review as of {data.as_of} written to {output} "
               f"(computed in {computed - started:.1f} s, written in {written - computed:.1f} s)")


def _write_replacing(data: ReviewData, output: Path) -> None:
    """Write the workbook beside ``output`` and rename it over ``output``: a failure
    leaves no half-written file, and an existing file whole."""
    temporary = output.absolute().with_name(f".{output.stem}.{os.getpid()}.tmp.xlsx")
    try:
        write_review(data, temporary)
        os.replace(temporary, output)
    finally:
        temporary.unlink(missing_ok=True)


def _in_force(session: Session, study: str, change_order_id: str,
              effective: dt.date) -> pd.DataFrame:
    """The study's budget in force on ``effective``; refuses an unknown study, a study
    without a work order and a change order id the study already has."""
    work_order = load_work_order(session, study)
    if work_order.empty:
        if study not in known_study_ids(session):
            fail(f"study {study!r} is not in the store")
        fail(f"{study} has no work order: import its service lines first "
             "(trialplan import workorders FILE)")
    stored = work_order[(work_order["change_order"] == change_order_id).fillna(False)
                        .to_numpy(bool)]
    if len(stored):
        since = stored["effective_from"].min().date().isoformat()
        fail(f"{change_order_id} is already a change order of {study} (from {since}): "
             "choose a new id")
    try:
        return budget_in_force(work_order, effective)
    except BudgetError as exc:
        fail(f"{study}: {exc}")


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
    if when is None:
        fail("--effective: expected an ISO date YYYY-MM-DD")
    change_order_id = change_order_id.strip()
    if not change_order_id:
        fail("--id: a change order needs an id, e.g. CO-03")
    if not workbook.is_file():
        fail(f"{workbook}: no such file")
    with store_transaction(ready_engine(), settings.actor(), commit=not dry_run) as session:
        in_force = _in_force(session, study, change_order_id, when)
        try:
            rows = change_order_from_workbook(workbook, study, change_order_id, when, reason,
                                              in_force=in_force)
        except (WorkbookError, InvalidFileException, KeyError) as exc:
            fail(f"{workbook}: {exc}")
        if rows.empty:
            typer.echo(f"{workbook}: no units or unit price changed on the Service lines "
                       "sheet; nothing to import")
            return
        raw = RawTable.from_frame(f"{workbook.name} (Service lines)", rows)
        # the importer's messages give the rows as the sheet numbers them
        raw = replace(raw, rows=pd.Series(rows.index.to_numpy(dtype="int64"), dtype="int64"))
        result = import_tables(session, "workorders", [raw], settings.actor())
    verb = "would change" if dry_run else "changed"
    typer.echo(f"change order {change_order_id} of {study} from {when}: {len(rows)} service "
               f"lines; {verb} {result.changed} rows")
    for row in rows.itertuples():
        typer.echo(f"  {row.service_line:<20} units {row.units:>12}  unit price "
                   f"{row.unit_price} {row.currency}")
