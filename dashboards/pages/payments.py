"""Payments page: earned vs invoiced vs paid by site, reconciliation exceptions by status,
the payment run preview and its approval (finance only)."""

from __future__ import annotations

import asyncio

import holoviews as hv
import hvplot.pandas  # noqa: F401  (registers .hvplot)
import pandas as pd
import panel as pn
import param
from panel.viewable import Viewer

from contracts.payments_picture import PaymentsPicture
from dashboards.access import Action, NotAllowed, may
from dashboards.formatting import day, money_column
from dashboards.pages.common import Choice, message, of_sites, ranked_sites, table
from dashboards.state.base import Outcome
from dashboards.state.payments import ALL, PaymentsState

SITE_COLUMNS = ["country", "site", "earned", "invoiced", "paid", "invoiced % of earned",
                "paid % of earned"]
EXCEPTION_COLUMNS = ["invoice", "line", "site", "status", "item", "subject", "service date",
                     "invoiced", "expected", "difference", "why"]


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


SITE_SHARES = ["invoiced % of earned", "paid % of earned"]
EXCEPTIONS_TAB = 1  # a link with a status filter opens on the exceptions


def shares_chart(picture: PaymentsPicture | None) -> hv.Element:
    """Invoiced and paid as shares of earned for the sites least paid (the same layers
    with or without data, so a new date updates the drawn chart in place)."""
    if picture is None:
        rows = pd.DataFrame({"site": pd.Series(dtype=str),
                             **{c: pd.Series(dtype=float) for c in SITE_SHARES}})
        title = "Invoiced and paid as a share of earned"
    else:
        every = site_rows(picture.sites)
        rows = ranked_sites(every, "paid % of earned", ascending=True)
        title = (f"Invoiced and paid as a share of earned: the sites least paid first "
                 f"({of_sites(len(rows), len(every))}; the table lists all)")
    # one label per site (not per bar), the legend says which bar is which
    return rows.hvplot.bar(x="site", y=SITE_SHARES, height=300, responsive=True, rot=90,
                           ylabel="% of earned", xlabel="", legend="top_right",
                           framewise=True, title=title).opts(multi_level=False)


class PaymentsView(Viewer):
    """Built once; a new study, date or status filter updates the figures, the chart's
    data and the tables' rows in place."""

    state = param.ClassSelector(class_=PaymentsState)

    def __panel__(self) -> pn.viewable.Viewable:
        state = self.state
        self._approve = pn.widgets.Button(label="Approve this payment run", color="success",
                                          width=240,
                                          visible=may(state.role, Action.APPROVE_PAYMENT_RUN))
        self._approve.on_click(self._store)
        self._status = pn.pane.Markdown("")
        self._message = message("", "warning")
        self._head = pn.pane.HTML("", sizing_mode="stretch_width")
        self._chart = pn.pane.HoloViews(
            hv.DynamicMap(pn.bind(shares_chart, state.param.picture)),
            sizing_mode="stretch_width")
        self._sites = table(pd.DataFrame(columns=SITE_COLUMNS), "site-payments", page_size=15)
        self._count = pn.pane.HTML("")
        self._none = message("No invoice line with this status.", "info")
        self._exceptions = table(pd.DataFrame(columns=EXCEPTION_COLUMNS), "exceptions",
                                 page_size=15)
        self._run_head = pn.pane.HTML("", sizing_mode="stretch_width")
        self._nothing = message("", "info")
        self._run = table(pd.DataFrame(), "payment-run", page_size=15)
        # one table at a time: a tab is drawn when opened, not with the page
        self._content = pn.Column(self._head, self._chart, pn.Tabs(
            ("Sites", self._sites),
            ("Reconciliation exceptions", pn.Column(
                Choice.from_param(state.param.status, label="Status", width=180),
                self._count, self._none, self._exceptions, sizing_mode="stretch_width")),
            ("Payment run", pn.Column(self._run_head, self._nothing, self._run, self._approve,
                                      self._status, sizing_mode="stretch_width")),
            dynamic=True, sizing_mode="stretch_width",
            active=EXCEPTIONS_TAB if state.status != ALL else 0), sizing_mode="stretch_width")
        state.param.watch(self._show, ["picture", "error", "approved"])
        state.param.watch(self._show_exceptions, ["exceptions"])
        self._show()
        controls = pn.Row(Choice.from_param(state.param.study, label="Study",
                                                       width=220),
                          Choice.from_param(state.param.as_of, label="As of",
                                                       width=160))
        return pn.Column(controls, self._message, self._content, sizing_mode="stretch_width")

    def _show(self, *_events: object) -> None:
        picture, error = self.state.picture, self.state.error
        self._message.visible = picture is None or bool(error)
        self._message.object = error or "No site payments to show."
        self._content.visible = picture is not None
        if picture is None:
            return
        self._head.object = (
            f'<div data-figure="payments-as-of">Site payments as of {picture.as_of}: earned '
            "(with overhead), invoiced and paid by approved runs through that date, in each "
            "site's currency</div>")
        self._sites.value = site_rows(picture.sites)
        self._show_exceptions()
        run = self.state.approved or picture.preview
        state = (f"approved run {run.run_id} by {run.actor}" if run.run_id is not None
                 else "preview (not stored)")
        empty = run.lines.empty
        self._nothing.visible, self._run.visible = empty, not empty
        self._nothing.object = (f"Nothing to pay through {run.through}: every earned item is "
                                "paid or waits for its site's payment date.")
        self._approve.disabled = empty or run.run_id is not None
        if empty:
            self._run_head.object = ""
            return
        totals = run.totals()
        paid = ", ".join(f"{amount} {currency}" for currency, amount in
                         totals["paid_now"].items())
        self._run_head.object = (
            f'<div data-figure="run">Payment run through {run.through} — {state}: '
            f"{len(run.lines):,} lines; paid now {paid} = {money_from_text(totals)}</div>")
        self._run.value = run_rows(run.summary)

    def _show_exceptions(self, *_events: object) -> None:
        exceptions = self.state.exceptions
        if exceptions is None:
            return
        self._none.visible = exceptions.empty
        self._exceptions.visible = not exceptions.empty
        self._count.object = (f'<div data-figure="exceptions">{len(exceptions)} invoice '
                              "lines</div>")
        self._exceptions.value = exception_rows(exceptions)

    async def _store(self, _event: object) -> None:
        self._approve.disabled = True
        try:
            done = await asyncio.to_thread(self.state.store_approval)
        except NotAllowed as refused:
            done = Outcome(error=str(refused))
        run = self.state.show_approval(done)  # on the UI thread: redraws race nothing
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
