"""The workload page's state: CRA utilization by month, a rebalance proposal (solved off
the UI thread) and applying it (PM only, audited)."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pandas as pd
import param

from dashboards import queries
from dashboards.access import Action, require
from dashboards.state.base import Outcome, PageState, outcome
from optimizer.rebalance import RebalanceOptions
from optimizer.rebalance_inputs import inputs_from_workload
from optimizer.rebalance_proposals import apply_moves, propose, stored_proposal
from planner.frames import load_portfolio
from planner.workload.portfolio import PortfolioWorkload

MONTHS = queries.WORKLOAD_MONTHS
UNASSIGNED = "unassigned"  # cra_utilization's row of the sites without a CRA
SOLVER_SETTINGS = ("max_moves", "time_limit", "gap")  # also the page's query parameters


class WorkloadState(PageState):
    workload = param.ClassSelector(class_=PortfolioWorkload, default=None, allow_None=True)
    max_moves = param.Integer(default=10, bounds=(0, 500), doc="at most K site moves")
    time_limit = param.Number(default=30.0, bounds=(1, 600), doc="solver seconds")
    gap = param.Number(default=RebalanceOptions().rel_gap, bounds=(0.0, 0.5),
                       doc="stop once the plan is proven within this relative gap (0.01: 1 %)")
    proposal = param.Dict(default=None, allow_None=True,
                          doc="the stored proposal's document (run, moves, utilization)")
    applied = param.Boolean(default=False)

    def __init__(self, reader, user, role, **params) -> None:  # noqa: ANN001
        super().__init__(reader, user, role)
        self.take_valid({k: v for k, v in params.items() if k in SOLVER_SETTINGS})
        self.refresh()

    def refresh(self) -> None:
        self.workload = self.attempt(lambda: self.reader.read(*queries.workload()))

    def utilization(self) -> pd.DataFrame:
        """Per CRA: staff_id, month (text), hours, capacity, utilization (1.0 = full)."""
        if self.workload is None:
            return pd.DataFrame(columns=["staff_id", "month", "hours", "capacity",
                                         "utilization"])
        table = self.workload.utilization
        table = table[table["staff_id"] != UNASSIGNED]
        return table.assign(month=table["month"].astype(str)).reset_index(drop=True)

    def unassigned_hours(self) -> float:
        """Monitoring hours in the window at sites without a CRA (no capacity to compare)."""
        if self.workload is None:
            return 0.0
        table = self.workload.utilization
        return float(table.loc[table["staff_id"] == UNASSIGNED, "hours"].sum())

    def solve_proposal(self) -> Outcome[dict[str, Any]]:
        """Solve and store a rebalance proposal with the page's options (PM only). Safe
        off the UI thread: no parameter changes until :meth:`show_proposal`."""
        require(self.role, Action.PROPOSE_REBALANCE)
        options = RebalanceOptions(max_moves=self.max_moves, time_limit=float(self.time_limit),
                                   rel_gap=float(self.gap))

        def solve() -> dict[str, Any]:
            with self.reader.write(self.user) as session:
                portfolio = load_portfolio(session)
                inputs = inputs_from_workload(portfolio, queries.workload_of(session))
                run, document = propose(session, portfolio, inputs, options, MONTHS,
                                        self.user)
                return {"run": run.id, "applied": False} | document

        return outcome(solve)

    def show_proposal(self, done: Outcome[dict[str, Any]]) -> dict[str, Any] | None:
        self.param.update(error=done.error, applied=False, proposal=done.value)
        return done.value

    def propose(self) -> dict[str, Any] | None:
        """Solve, store and show a proposal (both steps on the calling thread)."""
        return self.show_proposal(self.solve_proposal())

    def store_moves(self) -> Outcome[Outcome[PortfolioWorkload]]:
        """Make the proposal's moves from the day after the data cut (PM only; refused
        when the portfolio changed since the proposal was made), then read the workload
        after them: the outer outcome says whether the moves were made, the inner one
        holds the figures after. Safe off the UI thread."""
        require(self.role, Action.APPLY_REBALANCE)
        if self.proposal is None:
            return Outcome(error="Propose a rebalance first.")
        run_id = int(self.proposal["run"])

        def make_moves() -> Outcome[PortfolioWorkload]:
            with self.reader.write(self.user) as session:
                portfolio = load_portfolio(session)
                run = stored_proposal(session, portfolio, run_id)
                apply_moves(session, dict(run.result), portfolio.as_of + dt.timedelta(days=1))
                run.applied_at = dt.datetime.now(dt.UTC)
            return outcome(lambda: self.reader.read(*queries.workload()))

        return outcome(make_moves)

    def show_moves(self, done: Outcome[Outcome[PortfolioWorkload]]) -> bool:
        """Show the workload after the moves (UI thread); False when none were made."""
        if done.value is None:
            self.error = done.error
            return False
        after = done.value
        self.param.update(applied=True, proposal=(self.proposal or {}) | {"applied": True},
                          workload=after.value, error=after.error)
        return True

    def apply(self) -> bool:
        """Make and show the moves (both steps on the calling thread)."""
        return self.show_moves(self.store_moves())
