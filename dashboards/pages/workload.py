"""Workload page: CRA × month utilization (over 100 % stands out), a rebalance proposal
solved off the UI thread, its moves with reasons and utilization before and after, and
applying it (PM only)."""

from __future__ import annotations

import asyncio

import holoviews as hv
import hvplot.pandas  # noqa: F401  (registers .hvplot)
import pandas as pd
import panel as pn
import param
from panel.viewable import Viewer

from dashboards.access import Action, NotAllowed, may
from dashboards.pages.common import message, table
from dashboards.state.base import Outcome
from dashboards.state.workload import WorkloadState

# white to blue up to 100 %, then orange to red: an overloaded CRA-month stands out
CMAP = ["#f7fbff", "#c6dbef", "#6baed6", "#2171b5", "#fd8d3c", "#e31a1c", "#99000d"]
CLIM = (0.0, 1.75)


def heatmap(utilization: pd.DataFrame, title: str) -> hv.HeatMap:
    cras = utilization["staff_id"].nunique()
    return utilization.hvplot.heatmap(
        x="month", y="staff_id", C="utilization", cmap=CMAP, clim=CLIM, colorbar=True,
        height=max(300, min(14 * cras + 80, 1600)), responsive=True, title=title,
        xlabel="", ylabel="CRA", hover_cols=["hours", "capacity"], flip_yaxis=True)


def over_capacity(utilization: pd.DataFrame) -> pd.DataFrame:
    over = utilization[utilization["utilization"] > 1]
    return pd.DataFrame({"CRA": over["staff_id"], "month": over["month"],
                         "hours": over["hours"].round(1), "capacity": over["capacity"].round(1),
                         "utilization": (over["utilization"] * 100).round(0).astype(int)
                         .astype(str) + " %"})


def moves_table(document: dict) -> pd.DataFrame:
    return pd.DataFrame([{"study": m["study_id"], "site": m["site_id"], "from": m["from"],
                          "to": m["to"], "reason": m["reason"]} for m in document["moves"]],
                        columns=["study", "site", "from", "to", "reason"])


def before_after(document: dict) -> pd.DataFrame:
    use = pd.DataFrame(document["utilization"], columns=["staff_id", "month", "before",
                                                         "after"]).dropna()
    return pd.concat([use.assign(utilization=use["before"], when="before"),
                      use.assign(utilization=use["after"], when="after")])


class WorkloadView(Viewer):
    state = param.ClassSelector(class_=WorkloadState)

    def __panel__(self) -> pn.viewable.Viewable:
        state = self.state
        pm = may(state.role, Action.PROPOSE_REBALANCE)
        self._propose = pn.widgets.Button(label="Rebalance", color="primary", width=140,
                                          disabled=not pm)
        self._apply = pn.widgets.Button(label="Approve and apply the moves",
                                        color="success", width=240, visible=False)
        self._progress = pn.indicators.Progress(active=False, visible=False, width=200,
                                                bar_color="primary")
        self._status = pn.pane.Markdown("")
        self._propose.on_click(self._solve)
        self._apply.on_click(self._make_moves)
        controls = pn.Row(
            pn.widgets.IntInput.from_param(state.param.max_moves, label="Max moves", width=110),
            pn.widgets.FloatInput.from_param(state.param.time_limit, label="Time limit (s)",
                                             width=110),
            pn.widgets.FloatInput.from_param(state.param.gap, label="Proven gap", step=0.005,
                                             width=110),
            pn.Column(pn.Spacer(height=18), pn.Row(self._propose, self._progress)))
        return pn.Column(
            controls, self._status, pn.bind(self._proposal, state.param.proposal), self._apply,
            pn.bind(self._grid, state.param.workload, state.param.error),
            sizing_mode="stretch_width")

    def _grid(self, workload: object, error: str) -> pn.viewable.Viewable:
        if workload is None:
            return message(error or "No workload to show.")
        use = self.state.utilization()
        over = over_capacity(use)
        unassigned = self.state.unassigned_hours()
        parts = [pn.pane.HTML(
            f'<div data-figure="over">{over["CRA"].nunique()} CRAs over capacity in '
            f"{len(over)} CRA-months (utilization of capacity × FTE × target)</div>"
            + (f"<div>Sites without a CRA: {unassigned:,.0f} monitoring hours in these "
               "months (a rebalance assigns them)</div>" if unassigned else "")),
            pn.pane.HoloViews(heatmap(use, "CRA utilization by month"),
                              sizing_mode="stretch_width")]
        if error:
            parts.insert(0, message(error, "danger"))
        if len(over):
            parts.append(table(over, "over-capacity", page_size=10))
        return pn.Column(*parts, sizing_mode="stretch_width")

    async def _solve(self, _event: object) -> None:
        self._propose.disabled = True
        self._progress.visible, self._progress.active = True, True
        self._status.object = "Solving the rebalance (the model runs on the server) …"
        try:
            done = await asyncio.to_thread(self.state.solve_proposal)
        except NotAllowed as refused:
            done = Outcome(error=str(refused))
        finally:
            self._propose.disabled = False
            self._progress.visible, self._progress.active = False, False
        document = self.state.show_proposal(done)  # on the UI thread: redraws race nothing
        self._status.object = "" if document else f"**Not solved:** {self.state.error}"
        self._apply.visible = bool(document and document["moves"] or
                                   document and document["new_assignments"])

    async def _make_moves(self, _event: object) -> None:
        self._apply.disabled = True
        try:
            moves = await asyncio.to_thread(self.state.store_moves)
        except NotAllowed as refused:
            moves = Outcome(error=str(refused))
        done = self.state.show_moves(moves)
        self._apply.disabled = False
        self._apply.visible = not done
        self._status.object = ("**Applied**: the moves take effect the day after the data "
                               f"cut (audited as {self.state.user})." if done
                               else f"**Not applied:** {self.state.error}")

    def _proposal(self, document: dict | None) -> pn.viewable.Viewable:
        if not document:
            return pn.pane.Markdown("")
        over_before = sum(1 for u in document["utilization"] if u["before"] > 1 + 1e-9)
        over_after = sum(1 for u in document["utilization"] if u["after"] > 1 + 1e-9)
        head = pn.pane.HTML(
            f'<div data-figure="proposal">Proposal (run {document["run"]}): '
            f'{document["status"]}, proven gap {document["gap"]:.2%}, '
            f'{document["seconds"]} s; {len(document["moves"])} moves; CRA-months over '
            f"capacity {over_before} → {over_after}</div>")
        both = before_after(document)
        charts = pn.Row(*(pn.pane.HoloViews(heatmap(
            both[both["when"] == when].drop(columns=["before", "after"]).assign(
                hours=None, capacity=None), f"utilization {when}"),
            sizing_mode="stretch_width") for when in ("before", "after")),
            sizing_mode="stretch_width")
        explanation = [message("Still short: " + "; ".join(document["explanation"]), "info")
                       ] if document["explanation"] else []
        return pn.Column(head, table(moves_table(document), "moves", page_size=15),
                         *explanation, charts, sizing_mode="stretch_width")
