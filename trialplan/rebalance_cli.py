"""`trialplan rebalance`: a proposal of site moves between CRAs (and, with --apply, the moves)."""

from __future__ import annotations

import datetime as dt
import json
from typing import Annotated

import pandas as pd
import typer
from sqlalchemy import select
from sqlalchemy.orm import Session

from optimizer.rebalance import Rebalance, RebalanceInputs, RebalanceOptions
from optimizer.rebalance import rebalance as solve_rebalance
from optimizer.rebalance_inputs import rebalance_inputs
from planner.forecast_runs import known_study_ids
from planner.frames import load_portfolio
from planner.recruitment.history import ForecastInputError
from planner.store import transaction as store_transaction
from planner.tables import CraAssignment, Site, Staff, Study
from trialplan import settings
from trialplan.edge import date_option, ready_engine


def _apply(session: Session, plan: Rebalance, effective: dt.date) -> None:
    """Close each moved site's open assignment the day before ``effective`` and open the
    new CRA's from it; give sites without a CRA theirs (ORM writes: audited)."""
    changes = pd.concat([plan.moves[["study_id", "site_id", "to"]],
                         plan.new_assignments[["study_id", "site_id", "to"]]])
    for move in changes.itertuples():
        site = session.scalars(select(Site).join(Study, Site.study_pk == Study.id).where(
            Study.study_id == move.study_id, Site.site_id == move.site_id)).one()
        current = session.scalars(select(CraAssignment).where(
            CraAssignment.site_pk == site.id, CraAssignment.effective_to.is_(None))
        ).one_or_none()
        if current is not None:
            current.effective_to = effective - dt.timedelta(days=1)
        staff = session.scalars(select(Staff).where(Staff.staff_id == move.to)).one()
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
        inputs = rebalance_inputs(portfolio, months)
        pinned = _pinned(pin or [], inputs)
        if study is not None:
            inputs, others = _only_study(inputs, study)
            pinned |= others
        options = RebalanceOptions(max_moves=max_moves, max_sites_per_cra=max_sites_per_cra,
                                   pinned=pinned, time_limit=time_limit, rel_gap=gap)
        plan = solve_rebalance(inputs, options)
        if apply:
            _apply(session, plan, effective_date or portfolio.as_of + dt.timedelta(days=1))
    result = plan.result
    document = {
        "status": result.status, "objective": round(result.objective, 2),
        "bound": round(result.bound, 2), "gap": round(result.gap, 6),
        "seconds": round(result.build_seconds + result.solve_seconds, 2),
        "build_seconds": round(result.build_seconds, 2),
        "solve_seconds": round(result.solve_seconds, 2), "applied": apply,
        "travel_cost": {"before": round(plan.travel_before, 2),
                        "after": round(plan.travel_after, 2)},
        "moves": [{"study_id": m.study_id, "site_id": m.site_id, "from": m[3], "to": m.to,
                   "reason": m.reason} for m in plan.moves.itertuples()],
        "new_assignments": [{"study_id": m.study_id, "site_id": m.site_id, "to": m.to}
                            for m in plan.new_assignments.itertuples()],
        "shortfalls": [{"country": r.country, "month": str(r.month), "hours": float(r.hours)}
                       for r in plan.shortfalls.itertuples()],
        "unstaffable": [{"study_id": r.study_id, "site_id": r.site_id, "country": r.country}
                        for r in plan.unstaffable.itertuples()],
        "subproblems": [{"sites": int(r.sites), "cras": int(r.cras), "status": r.status,
                         "objective": round(float(r.objective), 2),
                         "bound": round(float(r.bound), 2), "seconds": round(r.seconds, 2)}
                        for r in plan.subproblems.itertuples()],
        "utilization": [{"staff_id": u.staff_id, "month": u.month,
                         "before": round(float(u.before), 4), "after": round(float(u.after), 4)}
                        for u in plan.utilization.itertuples()],
    }
    if as_json:
        typer.echo(json.dumps(document, indent=2))
        return
    typer.echo(f"{result.status}, gap {result.gap:.2%}, {document['seconds']} s "
               f"({len(plan.subproblems)} subproblems); "
               f"{len(plan.moves)} moves{' applied' if apply else ' proposed'}")
    if len(plan.moves):
        typer.echo(plan.moves.to_string(index=False))
    if len(plan.new_assignments):
        typer.echo(f"sites without a CRA, assigned: {len(plan.new_assignments)}")
    table = plan.utilization
    over_before = int((table["before"] > 1 + 1e-9).sum())
    over_after = int((table["after"] > 1 + 1e-9).sum())
    typer.echo(f"CRA-months over capacity: {over_before} before, {over_after} after; "
               f"travel {plan.travel_before:,.0f} → {plan.travel_after:,.0f} USD")
    for line in plan.explain():
        typer.echo(f"  short: {line}")
