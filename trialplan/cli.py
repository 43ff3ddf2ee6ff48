"""The ``trialplan`` command line (DESIGN §8).

Every command exits 0 on success and 2 on bad input, with the reason on
stderr. The CLI is the edge: it opens the transaction and decides to commit.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import sys
from collections.abc import Callable
from functools import wraps
from pathlib import Path
from typing import Annotated, Any

import typer
from sqlalchemy.exc import DataError, IntegrityError, OperationalError

from planner.forecast_runs import forecast_every_study, known_study_ids, record_forecast
from planner.frames import load_portfolio
from planner.importing.issues import ImportRejected
from planner.importing.run import KINDS, ImportResult, import_files
from planner.recruitment.forecast import ExtraSites
from planner.recruitment.history import ForecastInputError, date_after, study_as_of
from planner.recruitment.models import Model
from planner.recruitment.whatif import sites_needed
from planner.store import SchemaOutOfDate, database_url, make_engine, require_current_schema
from planner.store import transaction as store_transaction
from planner.store import upgrade as store_upgrade
from planner.study_forecast import forecast_document, forecast_study, months_until
from planner.summary import status_document, study_status
from trialplan import settings
from trialplan.demo import DEMO_AS_OF, build_demo
from trialplan.forecast_view import forecast_text, sites_needed_text

BAD_INPUT = 2
app = typer.Typer(no_args_is_help=True, add_completion=False, pretty_exceptions_enable=False,
                  help="Project, budget and resource forecasting for CRO operations.")


def _fail(message: str, code: int = BAD_INPUT) -> None:
    typer.echo(message, err=True)
    raise typer.Exit(code)


def edge(command: Callable[..., Any]) -> Callable[..., Any]:
    """Turn refused input into a clear message and exit status 2."""

    @wraps(command)
    def run(*args: Any, **kwargs: Any) -> Any:
        try:
            return command(*args, **kwargs)
        except ImportRejected as rejected:
            _fail(f"import refused, nothing was changed:\n{rejected.report()}")
        except (SchemaOutOfDate, ForecastInputError) as exc:
            _fail(str(exc))
        except (DataError, IntegrityError) as exc:  # a limit the importers did not check
            _fail(f"the database refused the data, nothing was changed: {exc.orig}")
        except OperationalError as exc:
            _fail(f"cannot use the database {database_url()}: {exc.orig}", 1)

    return run


def _ready_engine():  # noqa: ANN202 - sqlalchemy Engine
    engine = make_engine()
    require_current_schema(engine)
    return engine


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
        _fail(f"unknown kind {kind!r}: expected one of {', '.join(KINDS)}")
    try:
        effective_date = dt.date.fromisoformat(effective) if effective else None
    except ValueError:
        _fail(f"--effective {effective!r}: expected an ISO date YYYY-MM-DD")
    engine = _ready_engine()
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
        typer.echo(f"  {study_id:<14} {_day(lpi.p10)} / {_day(lpi.p50)} / {_day(lpi.p90)}  "
                   f"({result.recruitment.model.value}; {note})")


@app.command()
@edge
def status(as_json: Annotated[bool, typer.Option("--json", help="machine-readable")] = False
           ) -> None:
    """Studies, sites, subjects, visits, staff and assignments in the store."""
    with store_transaction(_ready_engine(), settings.actor()) as session:
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


def _day(value: dt.date | None) -> str:
    return value.isoformat() if value else "never"


def _date_option(name: str, value: str | None) -> dt.date | None:
    try:
        return dt.date.fromisoformat(value) if value else None
    except ValueError:
        _fail(f"{name} {value!r}: expected an ISO date YYYY-MM-DD")


STARTUP_MONTHS = 4.0  # default opening of extra sites: the shortest start-up (DESIGN §3)
MODELS = ["auto"] + [m.value for m in Model]


@app.command()
@edge
def forecast(
    study: Annotated[str, typer.Argument(help="study id (protocol)")],
    cut: Annotated[str | None, typer.Option(help="forecast as of this date YYYY-MM-DD "
                                            "(a back-test; default the data cut)")] = None,
    sims: Annotated[int, typer.Option(help="Monte Carlo simulations")] = 10_000,
    seed: Annotated[int, typer.Option(help="random seed (same seed, same forecast)")] = 0,
    model: Annotated[str, typer.Option(help=f"one of {', '.join(MODELS)}")] = "auto",
    what_if_sites: Annotated[int | None, typer.Option(
        "--what-if-sites", help="add N sites (with --country and --month)")] = None,
    country: Annotated[str | None, typer.Option(help="ISO country of the added sites")] = None,
    month: Annotated[str | None, typer.Option(help="YYYY-MM the added sites open")] = None,
    target_date: Annotated[str | None, typer.Option(
        help="with --probability: fewest extra sites to reach the target by this date")] = None,
    probability: Annotated[float | None, typer.Option(help="e.g. 0.8")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="machine-readable")] = False,
) -> None:
    """Recruitment and milestone forecast (P10/P50/P90), what-if sites, sites needed."""
    if model not in MODELS:
        _fail(f"--model {model!r}: expected one of {', '.join(MODELS)}")
    chosen = None if model == "auto" else Model(model)
    cut_date = _date_option("--cut", cut)
    deadline = _date_option("--target-date", target_date)
    if (deadline is None) != (probability is None):
        _fail("--target-date and --probability go together")
    if what_if_sites is not None and (what_if_sites < 1 or not country or not month):
        _fail("--what-if-sites N needs N >= 1, --country and --month")
    with store_transaction(_ready_engine(), settings.actor()) as session:
        portfolio = load_portfolio(session, study)
        if portfolio.studies.empty:
            known = ", ".join(known_study_ids(session)) or "none"
            raise ForecastInputError(f"study {study!r} is not in the store (studies: {known})")
        if deadline is not None:
            result = forecast_study(portfolio, study, cut_date, 100, seed, chosen)
            cut_at = result.history.cut
            opens = months_until(cut_at, month) if month else (
                months_until(cut_at, date_after(cut_at, STARTUP_MONTHS + 1).strftime("%Y-%m")))
            answer = sites_needed(result.history, (country or "").upper() or _main_country(
                result), opens, deadline, probability, sims, seed, chosen)
            if as_json:
                typer.echo(json.dumps({
                    "study_id": study, "as_of": cut_at.isoformat(),
                    "target_date": deadline.isoformat(), "probability": probability,
                    "country": answer.country, "opens_months_after_cut": round(opens, 3),
                    "sites_needed": answer.sites, "model": answer.model.value,
                    "baseline_probability": answer.baseline_probability,
                    "achieved_probability": answer.achieved_probability}, indent=2))
            else:
                typer.echo(sites_needed_text(answer, study))
            return
        extra = []
        if what_if_sites is not None:
            cut_at = cut_date or study_as_of(portfolio, study)
            extra = [ExtraSites(country.upper(), what_if_sites, months_until(cut_at, month))]
        result = forecast_study(portfolio, study, cut_date, sims, seed, chosen, extra)
        run_id = None
        if cut_date is None and not extra:  # the plan of record's forecast: store it
            run_id = record_forecast(session, result, settings.actor()).id
    if as_json:
        typer.echo(json.dumps(forecast_document(result, run_id), indent=2))
    else:
        typer.echo(forecast_text(result, run_id))


def _main_country(result) -> str:  # noqa: ANN001 - StudyForecast
    """The study's country with the most sites (extra sites default there)."""
    sites = result.history.sites
    return str(sites["country"].value_counts().index[0])


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
    app(prog_name="trialplan")


if __name__ == "__main__":
    sys.exit(main())
