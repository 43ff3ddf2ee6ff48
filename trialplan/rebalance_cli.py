"""`trialplan rebalance`: a proposal of site moves between CRAs (and, with --apply, the moves)."""

from __future__ import annotations

import datetime as dt
import json
from typing import Annotated

import typer
from sqlalchemy import select
from sqlalchemy.orm import Session

from optimizer.rebalance import Rebalance, rebalance_inputs
from optimizer.rebalance import rebalance as solve_rebalance
from planner.forecast_runs import known_study_ids
from planner.frames import load_portfolio
from planner.recruitment.history import ForecastInputError
from planner.store import transaction as store_transaction
from planner.tables import CraAssignment, Site, Staff, Study
from trialplan import settings
from trialplan.edge import date_option, ready_engine


def _apply(session: Session, plan: Rebalance, effective: dt.date) -> None:
    """Close each moved site's open assignment the day before ``effective`` and open the
    new CRA's from it (ORM writes: audited with the actor)."""
    for move in plan.moves.itertuples():
        site = session.scalars(select(Site).join(Study, Site.study_pk == Study.id).where(
            Study.study_id == move.study_id, Site.site_id == move.site_id)).one()
        current = session.scalars(select(CraAssignment).where(
            CraAssignment.site_pk == site.id, CraAssignment.effective_to.is_(None))).one()
        current.effective_to = effective - dt.timedelta(days=1)
        staff = session.scalars(select(Staff).where(Staff.staff_id == move.to)).one()
        session.add(CraAssignment(site_pk=site.id, staff_pk=staff.id,
                                  effective_from=effective, effective_to=None))
    session.flush()


def rebalance(
    study: Annotated[str | None, typer.Option(help="move only this study's sites")] = None,
    max_moves: Annotated[int | None, typer.Option(min=0, help="at most K site moves")] = None,
    time_limit: Annotated[float, typer.Option(min=1, max=3600, help="seconds")] = 60.0,
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
        sites, cras, hours, capacity = rebalance_inputs(portfolio, months)
        if study is not None:  # other studies' sites stay where they are
            sites = sites.assign(country=sites["country"].where(
                sites["study_id"] == study, "--pinned--"))
        plan = solve_rebalance(sites, cras, hours, capacity, max_moves, time_limit)
        if apply:
            _apply(session, plan, effective_date or portfolio.as_of + dt.timedelta(days=1))
    result = plan.result
    document = {
        "status": result.status, "objective": round(result.objective, 2),
        "gap": round(result.gap, 6), "seconds": round(result.build_seconds
                                                       + result.solve_seconds, 2),
        "applied": apply,
        "moves": [{"study_id": m.study_id, "site_id": m.site_id, "from": m[3], "to": m.to,
                   "reason": m.reason} for m in plan.moves.itertuples()],
        "shortfalls": [{"country": r.country, "month": str(r.month), "hours": float(r.hours)}
                       for r in plan.shortfalls.itertuples()],
        "utilization": [{"staff_id": u.staff_id, "month": u.month,
                         "before": round(float(u.before), 4), "after": round(float(u.after), 4)}
                        for u in plan.utilization.itertuples()],
    }
    if as_json:
        typer.echo(json.dumps(document, indent=2))
        return
    typer.echo(f"{result.status}, gap {result.gap:.2%}, {document['seconds']} s; "
               f"{len(plan.moves)} moves{' applied' if apply else ' proposed'}")
    if len(plan.moves):
        typer.echo(plan.moves.to_string(index=False))
    table = plan.utilization
    over_before = int((table["before"] > 1).sum())
    over_after = int((table["after"] > 1 + 1e-9).sum())
    typer.echo(f"CRA-months over capacity: {over_before} before, {over_after} after")
    for line in plan.explain():
        typer.echo(f"  short: {line}")
