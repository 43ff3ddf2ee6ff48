"""`trialplan rebalance`: a proposal of site moves between CRAs (and, with --apply, the moves)."""

from __future__ import annotations

import datetime as dt
import json
from typing import Annotated, Any

import pandas as pd
import typer

from optimizer.rebalance import RebalanceOptions
from optimizer.rebalance_inputs import rebalance_inputs
from optimizer.rebalance_proposals import (
    apply_moves,
    only_study,
    pinned_sites,
    propose,
    stored_proposal,
)
from planner.forecast_runs import known_study_ids
from planner.frames import load_portfolio
from planner.recruitment.history import ForecastInputError
from planner.store import transaction as store_transaction
from trialplan import settings
from trialplan.edge import date_option, ready_engine


def rebalance_text(document: dict[str, Any]) -> str:
    """The proposal for a terminal: figures, moves with reasons, what stays short."""
    lines = [f"rebalance run {document['run']}: {document['status']}, gap "
             f"{document['gap']:.2%}, {document['seconds']} s "
             f"({len(document['subproblems'])} subproblems); {len(document['moves'])} moves "
             f"{'applied' if document['applied'] else 'proposed'}"]
    if document["moves"]:
        lines.append(pd.DataFrame(document["moves"]).to_string(index=False))
    if document["new_assignments"]:
        lines.append(f"sites without a CRA, assigned: {len(document['new_assignments'])}")
    use = pd.DataFrame(document["utilization"], columns=["staff_id", "month", "before",
                                                         "after"])
    travel = document["travel_cost"]
    lines.append(f"CRA-months over capacity: {int((use['before'] > 1 + 1e-9).sum())} before, "
                 f"{int((use['after'] > 1 + 1e-9).sum())} after; travel "
                 f"{travel['before']:,.0f} → {travel['after']:,.0f} USD")
    lines += [f"  short: {line}" for line in document["explanation"]]
    if not document["applied"]:
        lines.append(f"apply it with: trialplan rebalance --apply-run {document['run']}")
    return "\n".join(lines)


def rebalance(
    study: Annotated[str | None, typer.Option(help="move only this study's sites")] = None,
    max_moves: Annotated[int | None, typer.Option(min=0, help="at most K site moves")] = None,
    max_sites_per_cra: Annotated[int | None, typer.Option(
        min=1, help="at most M sites per CRA")] = None,
    pin: Annotated[list[str] | None, typer.Option(
        help="STUDY/SITE: keep this site with its CRA (repeatable)")] = None,
    time_limit: Annotated[float, typer.Option(min=1, max=3600, help="seconds")] = 60.0,
    gap: Annotated[float, typer.Option(min=0, max=0.5, help="relative gap to stop at")] = 1e-4,
    months: Annotated[int, typer.Option(min=1, max=36, help="months planned")] = 12,
    apply: Annotated[bool, typer.Option("--apply", help="make the moves (audited)")] = False,
    apply_run: Annotated[int | None, typer.Option(
        help="make the moves of stored proposal N (refused if the portfolio changed)")] = None,
    effective: Annotated[str | None, typer.Option(
        help="YYYY-MM-DD the moves take effect (default: the day after the data cut)")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="machine-readable")] = False,
) -> None:
    """Propose (or --apply) site moves between CRAs that remove overload with few moves."""
    effective_date = date_option("--effective", effective)
    with store_transaction(ready_engine(), settings.actor()) as session:
        portfolio = load_portfolio(session)
        if study is not None and study not in set(portfolio.studies["study_id"].astype(str)):
            known = ", ".join(known_study_ids(session)) or "none"
            raise ForecastInputError(f"study {study!r} is not in the store (studies: {known})")
        if apply_run is not None:
            run = stored_proposal(session, portfolio, apply_run)
            document = dict(run.result)
        else:
            inputs = rebalance_inputs(portfolio, months)
            pinned = pinned_sites(pin or [], inputs)
            if study is not None:
                inputs, others = only_study(inputs, study)
                pinned |= others
            options = RebalanceOptions(max_moves=max_moves, max_sites_per_cra=max_sites_per_cra,
                                       pinned=pinned, time_limit=time_limit, rel_gap=gap)
            run, document = propose(session, portfolio, inputs, options, months,
                                    settings.actor(), study)
        applying = apply or apply_run is not None
        if applying:
            apply_moves(session, document, effective_date or portfolio.as_of + dt.timedelta(days=1))
            run.applied_at = dt.datetime.now(dt.UTC)
        document = {"run": run.id, "applied": applying} | document
    if as_json:
        typer.echo(json.dumps(document, indent=2))
        return
    typer.echo(rebalance_text(document))
