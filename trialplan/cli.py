"""The ``trialplan`` command line (DESIGN §8).

Every command exits 0 on success and 2 on bad input, with the reason on
stderr. The CLI is the edge: it opens the transaction and decides to commit.
"""

from __future__ import annotations

import json
import logging
import sys
from pathlib import Path
from typing import Annotated

import pandas as pd
import typer
from sqlalchemy import Engine

from optimizer.highs_bridge import quiet_highs
from optimizer.rebalance import RebalanceOptions
from optimizer.rebalance_inputs import inputs_from_workload
from optimizer.rebalance_proposals import propose
from planner.forecast_runs import forecast_every_study
from planner.frames import load_portfolio
from planner.importing.run import KINDS, ImportResult, import_files
from planner.store import database_url, make_engine
from planner.store import transaction as store_transaction
from planner.store import upgrade as store_upgrade
from planner.summary import status_document, study_status
from planner.workload.portfolio import portfolio_workload
from trialplan import settings
from trialplan.activation_cli import activation
from trialplan.budget_cli import budget, change_order, export_app
from trialplan.demo import DEMO_AS_OF, build_demo
from trialplan.demo.budgets import build_sponsor_budgets, write_reviews
from trialplan.demo.payments import build_site_payments, pay_last_quarter, reconcile_every_study
from trialplan.edge import date_option, edge, fail, ready_engine
from trialplan.forecast_cli import forecast
from trialplan.forecast_view import day_text
from trialplan.payments_cli import pay, reconcile
from trialplan.rebalance_cli import rebalance
from trialplan.serve_cli import serve, users_app
from trialplan.staffing_cli import staffing
from trialplan.workload_cli import workload

DEMO_MAX_MOVES = 10
DEMO_TIME_LIMIT = 30.0
app = typer.Typer(no_args_is_help=True, add_completion=False, pretty_exceptions_enable=False,
                  help="Project, budget and resource forecasting for CRO operations.")


@app.command()
@edge
def init() -> None:
    """Create the database, or upgrade it to the newest schema."""
    revision = store_upgrade(make_engine())
    typer.echo(f"database {database_url()} is at schema revision {revision}")


def _print_import(result: ImportResult, dry_run: bool) -> None:
    verb = "would change" if dry_run else "changed"
    typer.echo(f"{result.kind}: {', '.join(result.sources)} {verb}:")
    for entity, counts in result.counts.items():
        deleted = f" {counts['delete']:>8} removed" if "delete" in counts else ""
        typer.echo(f"  {entity:<16} {counts['insert']:>8} new {counts['update']:>8} updated "
                   f"{counts['unchanged']:>8} unchanged{deleted}")
    for notice in result.notices:
        typer.echo(f"  note: {notice}")
    if dry_run:
        typer.echo("dry run: nothing was written")


@app.command("import")
@edge
def import_(
    kind: Annotated[str, typer.Argument(help=f"one of: {', '.join(KINDS)}")],
    files: Annotated[list[Path], typer.Argument(help="CSV, .xlsx (or .xpt for sdtm) files")],
    dry_run: Annotated[bool, typer.Option("--dry-run", help="show what would change")] = False,
    effective: Annotated[str | None, typer.Option(
        help="YYYY-MM-DD a change such as a CRA reassignment takes effect (default today)",
    )] = None,
) -> None:
    """Import files of one kind, all or nothing; re-importing a file changes nothing."""
    if kind not in KINDS:
        fail(f"unknown kind {kind!r}: expected one of {', '.join(KINDS)}")
    effective_date = date_option("--effective", effective)
    engine = ready_engine()
    with store_transaction(engine, settings.actor(), commit=not dry_run) as session:
        result = import_files(session, kind, files, settings.actor(), effective_date)
    _print_import(result, dry_run)


@app.command()
@edge
def demo() -> None:
    """Build the demo portfolio (fixed seed) in the database, then show its status."""
    engine = make_engine()
    store_upgrade(engine)
    with store_transaction(engine, settings.actor()) as session:
        summary = build_demo(session, settings.actor())
    typer.echo(f"demo portfolio as of {DEMO_AS_OF.isoformat()}: {summary}")
    status(as_json=False)
    with store_transaction(engine, settings.actor()) as session:
        forecasts = forecast_every_study(session, settings.actor())
    typer.echo("\nrecruitment forecasts (LPI P10 / P50 / P90):")
    for study_id, result, note in forecasts:
        if result is None:
            typer.echo(f"  {study_id:<14} {note.split(': ', 1)[-1]}")
            continue
        lpi = result.milestone("LPI")
        dates = " / ".join(day_text(d) for d in (lpi.p10, lpi.p50, lpi.p90))
        typer.echo(f"  {study_id:<14} {dates}  ({result.recruitment.model.value}; {note})")
    with store_transaction(engine, settings.actor()) as session:
        portfolio = load_portfolio(session)
        work = portfolio_workload(portfolio, DEMO_AS_OF)
        over = work.overloaded()
        typer.echo(f"\nCRA workload, {work.months[0]} to {work.months[-1]}: "
                   f"{work.visits['hours'].sum():,.0f} monitoring hours; "
                   f"{over['staff_id'].nunique()} CRAs over capacity in {len(over)} CRA-months "
                   "(trialplan workload shows the grid)")
        run, plan = propose(session, portfolio, inputs_from_workload(portfolio, work),
                            RebalanceOptions(max_moves=DEMO_MAX_MOVES,
                                             time_limit=DEMO_TIME_LIMIT), 12,
                            settings.actor())
    use = pd.DataFrame(plan["utilization"])
    typer.echo(f"rebalance proposal {run.id} (at most {DEMO_MAX_MOVES} moves, not applied): "
               f"{len(plan['moves'])} site moves take the CRA-months over capacity from "
               f"{int((use['before'] > 1 + 1e-9).sum())} to "
               f"{int((use['after'] > 1 + 1e-9).sum())} ({plan['status']}, "
               f"{plan['seconds']:.1f} s; trialplan rebalance --apply-run {run.id} makes them)")
    _demo_site_payments(engine)
    _demo_sponsor_budgets(engine)


def _demo_sponsor_budgets(engine: Engine) -> None:
    """Work orders, change orders and timesheets for every study; two review workbooks."""
    with store_transaction(engine, settings.actor()) as session:
        build_sponsor_budgets(session, settings.actor(), DEMO_AS_OF)
        paths = write_reviews(session, settings.exports_folder(database_url()))
    typer.echo("\nsponsor budget review workbooks (trialplan budget STUDY shows the figures):")
    for path in paths:
        typer.echo(f"  {path}")
    typer.echo("\nthe web app: trialplan users add NAME --role pm, then trialplan serve "
               "(docs/DASHBOARDS.md)")


def _demo_site_payments(engine: Engine) -> None:
    """Site contracts for every study, a quarter of invoices (with mistakes), reconciled."""
    with store_transaction(engine, settings.actor()) as session:
        build_site_payments(session, settings.actor(), DEMO_AS_OF)
        runs = reconcile_every_study(session, settings.actor())
        paid = pay_last_quarter(session, settings.actor())
    typer.echo("\nsite invoices reconciled (trialplan reconcile STUDY shows the lines):")
    for run in runs:
        exceptions = ", ".join(f"{n} {status.replace('_', ' ')}"
                               for status, n in run.statuses.items() if status != "matched")
        typer.echo(f"  {run.study_id:<14} {run.lines:>5} lines, {run.exceptions:>4} exceptions"
                   + (f" ({exceptions})" if exceptions else ""))
    approved = ", ".join(f"{study} (run {run})" for study, run in paid if run is not None)
    typer.echo(f"payment runs approved through each study's last quarter end: {approved}")


@app.command()
@edge
def status(as_json: Annotated[bool, typer.Option("--json", help="machine-readable")] = False
           ) -> None:
    """Studies, sites, subjects, visits, staff and assignments in the store."""
    with store_transaction(ready_engine(), settings.actor()) as session:
        portfolio = load_portfolio(session)
    document = status_document(portfolio)
    if as_json:
        typer.echo(json.dumps(document, indent=2))
        return
    typer.echo(f"database: {database_url()}")
    typer.echo(f"data cut (latest recorded event): {document['as_of'] or '-'}")
    table = study_status(portfolio)
    typer.echo(table.to_string(index=False) if len(table) else "no studies yet")
    typer.echo(f"staff: {document['staff']}   CRA assignments in force: "
               f"{document['assignments']}")



app.command()(edge(forecast))
app.command()(edge(workload))
app.command()(edge(rebalance))
app.command()(edge(activation))
app.command()(edge(staffing))
app.command()(edge(reconcile))
app.command()(edge(pay))
app.command()(edge(budget))
app.command("change-order")(edge(change_order))
app.add_typer(export_app, name="export")
app.add_typer(users_app, name="users")
app.command()(serve)


def _show_progress() -> None:
    """Long work reports its steps on stderr when a person is watching."""
    if sys.stderr.isatty():
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter("  %(message)s"))
        progress = logging.getLogger("planner")
        progress.addHandler(handler)
        progress.setLevel(logging.INFO)


def main() -> None:
    _show_progress()
    quiet_highs()  # HiGHS prints its banner once per process, on fd 1: spend it here
    app(prog_name="trialplan")


if __name__ == "__main__":
    sys.exit(main())
