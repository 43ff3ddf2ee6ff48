"""`trialplan reconcile` and `trialplan pay`: site invoices checked line by line, and
payment runs (DESIGN §8, docs/SITE_PAYMENTS.md)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import pandas as pd
import typer

from contracts.minor import from_minor
from contracts.payment_export import write_run
from contracts.site_payments import (
    PaymentsInputError,
    approve_payment_run,
    preview_payment_run,
    record_reconciliation,
    study_payments,
)
from planner.store import transaction as store_transaction
from trialplan import settings
from trialplan.edge import date_option, fail, ready_engine


def _money_table(frame: pd.DataFrame, columns: list[str]) -> str:
    shown = frame.copy()
    for column in columns:
        shown[column] = [str(from_minor(v, c)) if pd.notna(v) else ""
                         for v, c in zip(shown[column], shown["currency"], strict=True)]
    return shown.to_string(index=False)


def reconcile(
    study: Annotated[str, typer.Argument(help="study id (protocol)")],
    site: Annotated[str | None, typer.Option(help="only this site's invoices and items")] = None,
    as_of: Annotated[str | None, typer.Option(
        "--as-of", help="earned up to this date YYYY-MM-DD (default the data cut)")] = None,
    tolerance: Annotated[int, typer.Option(min=0, max=90, help="days a billed service date "
                                           "may differ from the visit's")] = 7,
    as_json: Annotated[bool, typer.Option("--json", help="machine-readable")] = False,
) -> None:
    """Check every invoice line against the contract and the visit data; list accruals."""
    cut = date_option("--as-of", as_of)
    with store_transaction(ready_engine(), settings.actor()) as session:
        try:
            payments = study_payments(session, study, cut, site, tolerance)
        except PaymentsInputError as exc:
            fail(str(exc))
        run, document = record_reconciliation(session, payments, settings.actor())
    if as_json:
        typer.echo(json.dumps(document, indent=2))
        return
    rec = payments.reconciliation
    typer.echo(f"{study}: reconciliation {run} as of {payments.as_of}"
               + (f", site {site}" if site else "")
               + f" ({len(rec.lines):,} invoice lines, {len(rec.items):,} earned items)")
    for currency, amount in document["totals"]["invoiced"].items():
        typer.echo(f"  invoiced {amount} {currency}; earned "
                   f"{document['totals']['earned'].get(currency, '0')} {currency}")
    by_status = rec.lines.groupby(["status", "currency"]).agg(
        lines=("line_no", "size"), invoiced=("amount_minor", "sum")).reset_index()
    typer.echo(_money_table(by_status, ["invoiced"]) if len(by_status)
               else "  no invoices imported for this study")
    exceptions = rec.lines[rec.lines["status"] != "matched"]
    if len(exceptions):
        typer.echo("\nexceptions:")
        typer.echo(exceptions[["invoice_id", "line_no", "site_id", "status", "note"]]
                   .to_string(index=False, max_rows=60))
    accruals = rec.items[rec.items["item_class"] == "accrual"]
    typer.echo(f"\naccruals (earned, not invoiced): {len(accruals):,} items")
    if payments.later_lines:
        typer.echo(f"{payments.later_lines:,} invoice lines dated after {payments.as_of} were "
                   "left out (--as-of a later date includes them)")


def pay(
    study: Annotated[str, typer.Argument(help="study id (protocol)")],
    through: Annotated[str | None, typer.Option(
        help="pay what was earned up to this date YYYY-MM-DD (default the data cut)")] = None,
    approve: Annotated[bool, typer.Option(
        "--approve", help="store and freeze the run (audited); without it, a preview")] = False,
    output: Annotated[Path | None, typer.Option(
        "-o", "--output", help="write the run as .xlsx or .csv")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="machine-readable")] = False,
) -> None:
    """A payment run: earned items net of holdback and of what was already paid."""
    end = date_option("--through", through)
    if output is not None and output.suffix.lower() not in (".xlsx", ".csv"):
        fail(f"-o {output}: expected a file name ending in .xlsx or .csv")
    if output is not None and not output.resolve().parent.is_dir():
        fail(f"-o {output}: the folder {output.resolve().parent} does not exist "
             "(checked before anything is approved)")
    with store_transaction(ready_engine(), settings.actor()) as session:
        try:
            payments = study_payments(session, study, end, None, 7)
            run = (approve_payment_run(session, payments, settings.actor()) if approve
                   else preview_payment_run(session, payments))
        except PaymentsInputError as exc:
            fail(str(exc))
    if output is not None and len(run.lines):
        try:
            write_run(run, output)
        except OSError as exc:
            stored = f" (run {run.run_id} is approved and stored)" if run.run_id else ""
            fail(f"-o {output}: cannot write the file{stored}: {exc}")
    if as_json:
        typer.echo(json.dumps(run.document(), indent=2))
        return
    typer.echo(run.text())
    if output is not None and len(run.lines):
        typer.echo(f"written to {output}")
