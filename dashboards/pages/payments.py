"""Payments page: earned vs invoiced vs paid by site, reconciliation exceptions by status,
the payment run preview and its approval (finance only)."""

from __future__ import annotations

import asyncio

import hvplot.pandas  # noqa: F401  (registers .hvplot)
import pandas as pd
import panel as pn
import param
from panel.viewable import Viewer

from contracts.payments_picture import PaymentsPicture
from dashboards.access import Action, NotAllowed, may
from dashboards.formatting import day, money_column
from dashboards.pages.common import message, table
from dashboards.state.payments import PaymentsState


def site_rows(sites: pd.DataFrame) -> pd.DataFrame:
    """Per site, money in the contract currency, and the shares of earned invoiced and
    paid (currency-free, so sites in different currencies compare)."""
    earned = sites["earned_minor"].where(sites["earned_minor"] != 0)
    return pd.DataFrame({
        "country": sites["country"], "site": sites["site_id"],
        "earned": money_column(sites, "earned_minor"),
        "invoiced": money_column(sites, "invoiced_minor"),
        "paid": money_column(sites, "paid_minor"),
        "invoiced % of earned": (100 * sites["invoiced_minor"] / earned).round(1),
        "paid % of earned": (100 * sites["paid_minor"] / earned).round(1)})


def exception_rows(exceptions: pd.DataFrame) -> pd.DataFrame:
    return pd.DataFrame({
        "invoice": exceptions["invoice_id"], "line": exceptions["line_no"],
        "site": exceptions["site_id"], "status": exceptions["status"],
        "item": exceptions["item_type"].astype(str) + " " + exceptions["item_code"].astype(str),
        "subject": exceptions["subject_id"].fillna(""),
        "service date": [day(d) for d in exceptions["service_date"]],
        "invoiced": money_column(exceptions, "amount_minor"),
        "expected": money_column(exceptions, "expected_minor"),
        "difference": money_column(exceptions, "difference_minor"),
        "why": exceptions["note"]})


class PaymentsView(Viewer):
    state = param.ClassSelector(class_=PaymentsState)

    def __panel__(self) -> pn.viewable.Viewable:
        state = self.state
        self._approve = pn.widgets.Button(label="Approve this payment run",
                                          color="success", width=240,
                                          visible=may(state.role, Action.APPROVE_PAYMENT_RUN))
        self._approve.on_click(self._store)
        self._status = pn.pane.Markdown("")
        controls = pn.Row(pn.widgets.Select.from_param(state.param.study, label="Study",
                                                       width=220),
                          pn.widgets.Select.from_param(state.param.as_of, label="As of",
                                                       width=160))
        return pn.Column(
            controls, pn.bind(self._sites, state.param.picture, state.param.error),
            pn.pane.Markdown("#### Reconciliation exceptions"),
            pn.widgets.Select.from_param(state.param.status, label="Status", width=180),
            pn.bind(self._exceptions, state.param.exceptions),
            pn.pane.Markdown("#### Payment run"),
            pn.bind(self._run, state.param.picture, state.param.approved),
            self._approve, self._status, sizing_mode="stretch_width")

    def _sites(self, picture: PaymentsPicture | None, error: str) -> pn.viewable.Viewable:
        if picture is None:
            return message(error or "No site payments to show.")
        rows = site_rows(picture.sites)
        chart = rows.hvplot.bar(x="site", y=["invoiced % of earned", "paid % of earned"],
                                height=260, responsive=True, xaxis=None, ylabel="% of earned",
                                legend="top_right",
                                title="Invoiced and paid as a share of earned, by site")
        head = pn.pane.HTML(f'<div data-figure="payments-as-of">Site payments as of '
                            f"{picture.as_of}: earned (with overhead), invoiced and paid by "
                            "approved runs through that date, in each site's currency</div>")
        return pn.Column(head, pn.pane.HoloViews(chart, sizing_mode="stretch_width"),
                         table(rows, "site-payments", page_size=15),
                         sizing_mode="stretch_width")

    def _exceptions(self, exceptions: pd.DataFrame | None) -> pn.viewable.Viewable:
        if exceptions is None:
            return pn.pane.Markdown("")
        if exceptions.empty:
            return message("No invoice line with this status.", "info")
        return pn.Column(pn.pane.HTML(f'<div data-figure="exceptions">{len(exceptions)} '
                                      "invoice lines</div>"),
                         table(exception_rows(exceptions), "exceptions", page_size=15),
                         sizing_mode="stretch_width")

    def _run(self, picture: PaymentsPicture | None, approved: object) -> pn.viewable.Viewable:
        if picture is None:
            return pn.pane.Markdown("")
        run = approved or picture.preview
        state = (f"approved run {run.run_id} by {run.actor}" if run.run_id is not None
                 else "preview (not stored)")
        if run.lines.empty:
            self._approve.disabled = True
            return message(f"Nothing to pay through {run.through}: every earned item is "
                           "paid or waits for its site's payment date.", "info")
        self._approve.disabled = run.run_id is not None
        totals = run.totals()
        paid = ", ".join(f"{amount} {currency}" for currency, amount in
                         totals["paid_now"].items())
        summary = run_rows(run.summary)
        return pn.Column(pn.pane.HTML(
            f'<div data-figure="run">Payment run through {run.through} — {state}: '
            f"{len(run.lines):,} lines; paid now {paid} = "
            f"{money_from_text(totals)}</div>"),
            table(summary, "payment-run", page_size=15), sizing_mode="stretch_width")

    async def _store(self, _event: object) -> None:
        self._approve.disabled = True
        try:
            run = await asyncio.to_thread(self.state.approve)
        except NotAllowed as refused:
            run, self.state.error = None, str(refused)
        self._status.object = (f"**Approved** run {run.run_id}: stored and frozen."
                               if run is not None and run.run_id is not None else
                               f"**Not approved:** {self.state.error or 'nothing to pay'}")


def run_rows(summary: pd.DataFrame) -> pd.DataFrame:
    """The run's per-site summary as text: exact amounts as written, dates as ISO."""
    shown = summary.drop(columns=["study_id"], errors="ignore").copy()
    for column in shown.columns:
        if pd.api.types.is_datetime64_any_dtype(shown[column]):
            shown[column] = [day(d) for d in shown[column]]
        elif shown[column].dtype == object:
            shown[column] = ["" if v is None or v is pd.NA else str(v) for v in shown[column]]
    return shown


def money_from_text(totals: dict) -> str:
    return f"{totals['reporting']['amount']} {totals['reporting']['currency']}"
