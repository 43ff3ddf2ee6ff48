"""`trialplan rebalance`: a proposal of site moves between CRAs (and, with --apply, the moves)."""

from __future__ import annotations

import datetime as dt
import json
from typing import Annotated, Any

import pandas as pd
import typer
from sqlalchemy import select
from sqlalchemy.orm import Session

from optimizer.rebalance import RebalanceInputs, RebalanceOptions
from optimizer.rebalance import rebalance as solve_rebalance
from optimizer.rebalance_inputs import rebalance_inputs
from optimizer.rebalance_runs import inputs_hash, options_document, rebalance_document
from optimizer.runs import record_run
from planner.forecast_runs import known_study_ids
from planner.frames import Portfolio, load_portfolio
from planner.recruitment.history import ForecastInputError
from planner.store import transaction as store_transaction
from planner.tables import CraAssignment, RebalanceRun, Site, Staff, Study
from trialplan import settings
from trialplan.edge import date_option, ready_engine


def _apply(session: Session, document: dict[str, Any], effective: dt.date) -> None:
    """Close each moved site's open assignment the day before ``effective`` and open the
    new CRA's from it; give sites without a CRA theirs (ORM writes: audited)."""
    for change in document["moves"] + document["new_assignments"]:
        site = session.scalars(select(Site).join(Study, Site.study_pk == Study.id).where(
            Study.study_id == change["study_id"], Site.site_id == change["site_id"])).one()
        current = session.scalars(select(CraAssignment).where(
            CraAssignment.site_pk == site.id, CraAssignment.effective_to.is_(None))
        ).one_or_none()
        if current is not None:
            current.effective_to = effective - dt.timedelta(days=1)
        staff = session.scalars(select(Staff).where(Staff.staff_id == change["to"])).one()
        session.add(CraAssignment(site_pk=site.id, staff_pk=staff.id,
                                  effective_from=effective, effective_to=None))
    session.flush()


def _only_study(inputs: RebalanceInputs, study: str) -> tuple[RebalanceInputs,
                                                               frozenset[tuple[str, str]]]:
    """Other studies' sites stay with their CRAs (pinned); those without one are left out."""
    sites = inputs.sites
    keep = (sites["study_id"] == study) | sites["cra"].notna()
    others = sites[keep & (sites["study_id"] != study)]
    pinned = frozenset(zip(others["study_id"], others["site_id"], strict=True))
    return RebalanceInputs(sites[keep], inputs.cras, inputs.hours, inputs.trips,
                           inputs.capacity), pinned


def _pinned(values: list[str], inputs: RebalanceInputs) -> frozenset[tuple[str, str]]:
    """--pin STUDY/SITE values, each checked against the store's sites."""
    known = set(zip(inputs.sites["study_id"], inputs.sites["site_id"], strict=True))
    pinned = set()
    for value in values:
        study_id, slash, site_id = value.partition("/")
        if not slash or (study_id, site_id) not in known:
            raise ForecastInputError(f"--pin {value!r}: expected STUDY/SITE of a site in "
                                     "the store")
        pinned.add((study_id, site_id))
    return frozenset(pinned)


def propose(session: Session, portfolio: Portfolio, inputs: RebalanceInputs,
            options: RebalanceOptions, months: int, study: str | None = None
            ) -> tuple[RebalanceRun, dict[str, Any]]:
    """Solve and store a proposal (not applied): the run and its document."""
    document = rebalance_document(solve_rebalance(inputs, options))
    stored_options = options_document(options, months) | {"study": study}
    run = record_run(session, RebalanceRun, document, stored_options,
                           inputs_hash(inputs, options, months), portfolio.as_of,
                           settings.actor())
    return run, document


def _stored_proposal(session: Session, portfolio: Portfolio, run_id: int) -> RebalanceRun:
    """Stored run ``run_id``, if not applied yet and still made of today's inputs."""
    run = session.get(RebalanceRun, run_id)
    if run is None:
        raise ForecastInputError(f"--apply-run {run_id}: no such rebalance run")
    if run.applied_at is not None:
        raise ForecastInputError(f"--apply-run {run_id}: already applied on "
                                 f"{run.applied_at:%Y-%m-%d %H:%M}")
    stored = dict(run.options)
    months, study = int(stored.pop("months")), stored.pop("study")
    stored["pinned"] = frozenset(tuple(p) for p in stored["pinned"])
    options = RebalanceOptions(**stored)
    inputs = rebalance_inputs(portfolio, months)
    if study is not None:
        inputs, _ = _only_study(inputs, study)
    if inputs_hash(inputs, options, months) != run.inputs_sha256:
        raise ForecastInputError(f"--apply-run {run_id}: the portfolio changed since this "
                                 "proposal was made (its inputs differ); propose again")
    return run


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
            run = _stored_proposal(session, portfolio, apply_run)
            document = dict(run.result)
        else:
            inputs = rebalance_inputs(portfolio, months)
            pinned = _pinned(pin or [], inputs)
            if study is not None:
                inputs, others = _only_study(inputs, study)
                pinned |= others
            options = RebalanceOptions(max_moves=max_moves, max_sites_per_cra=max_sites_per_cra,
                                       pinned=pinned, time_limit=time_limit, rel_gap=gap)
            run, document = propose(session, portfolio, inputs, options, months, study)
        applying = apply or apply_run is not None
        if applying:
            _apply(session, document, effective_date or portfolio.as_of + dt.timedelta(days=1))
            run.applied_at = dt.datetime.now(dt.UTC)
        document = {"run": run.id, "applied": applying} | document
    if as_json:
        typer.echo(json.dumps(document, indent=2))
        return
    typer.echo(rebalance_text(document))
