"""The workload page's state: CRA utilization by month, a rebalance proposal (solved off
the UI thread) and applying it (PM only, audited)."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pandas as pd
import param

from dashboards.access import Action, require
from dashboards.state.base import PageState
from optimizer.rebalance import RebalanceOptions
from optimizer.rebalance_inputs import inputs_from_workload
from optimizer.rebalance_proposals import apply_moves, propose, stored_proposal
from planner.frames import load_portfolio
from planner.recruitment.history import ForecastInputError
from planner.workload.portfolio import PortfolioWorkload, portfolio_workload

MONTHS = 12


def workload_of(session) -> PortfolioWorkload:  # noqa: ANN001
    portfolio = load_portfolio(session)
    if portfolio.as_of is None:
        raise ForecastInputError("nothing recorded yet: no data cut to plan from")
    return portfolio_workload(portfolio, portfolio.as_of, MONTHS)


class WorkloadState(PageState):
    workload = param.ClassSelector(class_=PortfolioWorkload, default=None, allow_None=True)
    max_moves = param.Integer(default=10, bounds=(0, 500), doc="at most K site moves")
    time_limit = param.Number(default=30.0, bounds=(1, 600), doc="solver seconds")
    proposal = param.Dict(default=None, allow_None=True,
                          doc="the stored proposal's document (run, moves, utilization)")
    applied = param.Boolean(default=False)

    def __init__(self, reader, user, role, **params) -> None:  # noqa: ANN001
        super().__init__(reader, user, role)
        self.param.update(**{k: v for k, v in params.items()
                             if k in ("max_moves", "time_limit")})
        self.refresh()

    def refresh(self) -> None:
        self.workload = self.attempt(lambda: self.reader.read(("workload",), workload_of))

    def utilization(self) -> pd.DataFrame:
        """staff_id, month (text), hours, capacity, utilization (1.0 = full)."""
        if self.workload is None:
            return pd.DataFrame(columns=["staff_id", "month", "hours", "capacity",
                                         "utilization"])
        table = self.workload.utilization
        return table.assign(month=table["month"].astype(str))

    def propose(self) -> dict[str, Any] | None:
        """Solve and store a rebalance proposal with the page's options (PM only)."""
        require(self.role, Action.PROPOSE_REBALANCE)
        options = RebalanceOptions(max_moves=self.max_moves, time_limit=float(self.time_limit))

        def solve() -> dict[str, Any]:
            with self.reader.write(self.user) as session:
                portfolio = load_portfolio(session)
                inputs = inputs_from_workload(portfolio, workload_of(session))
                run, document = propose(session, portfolio, inputs, options, MONTHS,
                                        self.user)
                return {"run": run.id, "applied": False} | document

        self.busy = True
        try:
            document = self.attempt(solve)
        finally:
            self.busy = False
        self.applied = False
        self.proposal = document
        return document

    def apply(self) -> bool:
        """Make the proposal's moves from the day after the data cut (PM only; refused
        when the portfolio changed since the proposal was made)."""
        require(self.role, Action.APPLY_REBALANCE)
        if self.proposal is None:
            self.error = "Propose a rebalance first."
            return False
        run_id = int(self.proposal["run"])

        def make_moves() -> None:
            with self.reader.write(self.user) as session:
                portfolio = load_portfolio(session)
                run = stored_proposal(session, portfolio, run_id)
                apply_moves(session, dict(run.result), portfolio.as_of + dt.timedelta(days=1))
                run.applied_at = dt.datetime.now(dt.UTC)

        done = self.attempt(lambda: make_moves() or True)
        if done:
            self.applied = True
            self.proposal = self.proposal | {"applied": True}
            self.refresh()
        return bool(done)
