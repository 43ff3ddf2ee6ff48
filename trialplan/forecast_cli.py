"""`trialplan forecast`: the recruitment and milestone forecast, what-if sites, sites needed."""

from __future__ import annotations

import datetime as dt
import json
from typing import Annotated

import typer
from sqlalchemy.orm import Session

from planner.countries import country_code
from planner.forecast_runs import known_study_ids, record_forecast, store_data_cut
from planner.frames import Portfolio, load_portfolio
from planner.recruitment.forecast import ExtraSites
from planner.recruitment.history import ForecastInputError, date_after, history_at
from planner.recruitment.models import Model
from planner.recruitment.whatif import MAX_EXTRA_SITES, sites_needed
from planner.store import transaction as store_transaction
from planner.study_forecast import PLAN_SIMS, forecast_document, forecast_study, months_until
from trialplan import settings
from trialplan.edge import date_option, fail, ready_engine
from trialplan.forecast_view import forecast_text, sites_needed_document, sites_needed_text

STARTUP_MONTHS = 4.0  # default opening of extra sites: the shortest start-up (DESIGN §3)
MODELS = ["auto"] + [m.value for m in Model]
MAX_SIMS = 1_000_000
MAX_SEED = 2**63 - 1


def _country(value: str | None) -> str | None:
    if value is None:
        return None
    code = country_code(value)
    if code is None:
        fail(f"--country {value!r}: expected an ISO 3166 country code such as DE or DEU")
    return code


def _portfolio(session: Session, study: str, cut: dt.date | None) -> Portfolio:
    """The study's frames; refused when the study is unknown or the cut lies after every
    recorded event (no data could say what happened by then)."""
    portfolio = load_portfolio(session, study)
    if portfolio.studies.empty:
        known = ", ".join(known_study_ids(session)) or "none"
        raise ForecastInputError(f"study {study!r} is not in the store (studies: {known})")
    latest = store_data_cut(session)
    if cut is not None and latest is not None and cut > latest:
        raise ForecastInputError(
            f"--cut {cut} is after the store's data cut {latest} (its latest recorded event): "
            "nothing is known about the days after it")
    return portfolio


def forecast(
    study: Annotated[str, typer.Argument(help="study id (protocol)")],
    cut: Annotated[str | None, typer.Option(help="forecast as of this date YYYY-MM-DD "
                                            "(a back-test; default the data cut)")] = None,
    sims: Annotated[int, typer.Option(min=100, max=MAX_SIMS,
                                      help="Monte Carlo simulations")] = PLAN_SIMS,
    seed: Annotated[int, typer.Option(min=0, max=MAX_SEED,
                                      help="random seed (same seed, same forecast)")] = 0,
    model: Annotated[str, typer.Option(help=f"one of {', '.join(MODELS)}")] = "auto",
    what_if_sites: Annotated[int | None, typer.Option(
        "--what-if-sites", min=1, max=MAX_EXTRA_SITES,
        help="add N sites (with --country and --month)")] = None,
    country: Annotated[str | None, typer.Option(help="ISO country of the added sites")] = None,
    month: Annotated[str | None, typer.Option(help="YYYY-MM the added sites open")] = None,
    target_date: Annotated[str | None, typer.Option(
        help="with --probability: fewest extra sites to reach the target by this date")] = None,
    probability: Annotated[float | None, typer.Option(help="e.g. 0.8")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="machine-readable")] = False,
) -> None:
    """Recruitment and milestone forecast (P10/P50/P90), what-if sites, sites needed."""
    if model not in MODELS:
        fail(f"--model {model!r}: expected one of {', '.join(MODELS)}")
    chosen = None if model == "auto" else Model(model)
    cut_date = date_option("--cut", cut)
    deadline = date_option("--target-date", target_date)
    code = _country(country)
    if (deadline is None) != (probability is None):
        fail("--target-date and --probability go together")
    if deadline is not None and what_if_sites is not None:
        fail("--what-if-sites and --target-date are separate questions: give one of them")
    if what_if_sites is not None and (not code or not month):
        fail("--what-if-sites N needs N >= 1, --country and --month")
    with store_transaction(ready_engine(), settings.actor()) as session:
        portfolio = _portfolio(session, study, cut_date)
        if deadline is not None:
            history = history_at(portfolio, study, cut_date)
            opens = months_until(history.cut, month or date_after(
                history.cut, STARTUP_MONTHS + 1).strftime("%Y-%m"))
            answer = sites_needed(history, code or _main_country(history.sites), opens,
                                  deadline, probability, sims, seed, chosen)
            typer.echo(json.dumps(sites_needed_document(answer, history, opens), indent=2)
                       if as_json else sites_needed_text(answer, study))
            return
        extra = []
        if what_if_sites is not None:
            history = history_at(portfolio, study, cut_date)
            extra = [ExtraSites(code, what_if_sites, months_until(history.cut, month))]
        result = forecast_study(portfolio, study, cut_date, sims, seed, chosen, extra)
        run_id, reused = None, False
        if cut_date is None and not extra:  # the plan of record's forecast: store it
            run, reused = record_forecast(session, result, settings.actor())
            run_id = run.id
    if as_json:
        typer.echo(json.dumps(forecast_document(result, run_id), indent=2))
    else:
        typer.echo(forecast_text(result, run_id, reused))


def _main_country(sites) -> str:  # noqa: ANN001 - the history's site table
    """The country with the most sites recruiting now (extra sites default there)."""
    recruiting = sites[(sites["opens"] == 0) & ~sites["closed"]]
    return str((recruiting if len(recruiting) else sites)["country"].value_counts().index[0])
