"""`trialplan workload`: every CRA's monitoring hours and utilization for the next 12 months."""

from __future__ import annotations

import json
from typing import Annotated

import pandas as pd
import typer

from planner.forecast_runs import known_study_ids
from planner.frames import load_portfolio
from planner.recruitment.history import ForecastInputError
from planner.store import transaction as store_transaction
from planner.workload.drivers import DEFAULT_DRIVERS
from planner.workload.portfolio import portfolio_workload
from trialplan import settings
from trialplan.edge import ready_engine


def workload(
    study: Annotated[str | None, typer.Option(help="one study only (default: all)")] = None,
    months: Annotated[int, typer.Option(min=1, max=36, help="months from the data cut")] = 12,
    as_json: Annotated[bool, typer.Option("--json", help="machine-readable")] = False,
) -> None:
    """Monitoring workload per CRA and month: hours, capacity, utilization (1.0 = full)."""
    with store_transaction(ready_engine(), settings.actor()) as session:
        portfolio = load_portfolio(session, study)
        if study is not None and portfolio.studies.empty:
            known = ", ".join(known_study_ids(session)) or "none"
            raise ForecastInputError(f"study {study!r} is not in the store (studies: {known})")
    as_of = portfolio.as_of
    if as_of is None:
        raise ForecastInputError("nothing recorded yet: no data cut to plan from")
    result = portfolio_workload(portfolio, as_of, months)
    window, work, table = result.months, result.visits, result.utilization
    if as_json:
        typer.echo(json.dumps(_document(as_of, window, work, table), indent=2))
        return
    typer.echo(f"data cut {as_of}; CRA utilization of capacity × FTE × "
               f"{DEFAULT_DRIVERS.utilization_target:.0%} (* = over 100 %)")
    grid = table.pivot_table(index="staff_id", columns="month", values="utilization",
                             dropna=False)
    shown = grid.map(lambda v: "-" if pd.isna(v) else f"{v:.0%}{'*' if v > 1 else ' '}")
    shown.columns = [str(c) for c in shown.columns]
    typer.echo(shown.to_string())
    over = table[table["utilization"] > 1]
    typer.echo(f"{over['staff_id'].nunique()} CRAs over capacity in {len(over)} CRA-months; "
               f"{work['hours'].sum():,.0f} monitoring hours in {len(window)} months")


def _document(as_of, window, work: pd.DataFrame, table: pd.DataFrame) -> dict:  # noqa: ANN001
    by_study = work.groupby(["study_id", "month"])[["visits", "hours"]].sum().reset_index()
    return {
        "as_of": as_of.isoformat(), "months": [str(m) for m in window],
        "utilization": [{"staff_id": r.staff_id, "month": str(r.month),
                         "hours": round(float(r.hours), 2),
                         "capacity": round(float(r.capacity), 2),
                         "utilization": None if pd.isna(r.utilization)
                         else round(float(r.utilization), 4)}
                        for r in table.itertuples()],
        "by_study": [{"study_id": r.study_id, "month": str(r.month),
                      "visits": round(float(r.visits), 3), "hours": round(float(r.hours), 2)}
                     for r in by_study.itertuples()],
    }
