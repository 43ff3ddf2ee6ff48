"""Portfolio page: every study's status; filters by sponsor, therapeutic area, country."""

from __future__ import annotations

import pandas as pd
import panel as pn
import param
from panel.viewable import Viewer

from dashboards.formatting import day, money, ratio
from dashboards.pages.common import Choice, message, table
from dashboards.state.portfolio import PortfolioState

COLUMNS = ["study", "sponsor", "stage", "randomized / plan / target", "vs plan", "LPI",
           "slip (days)", "CPI", "SPI", "EAC", "EAC − BAC", "next milestone", "open"]


def portfolio_rows(shown: pd.DataFrame) -> pd.DataFrame:
    """The status rows as the table shows them (text, links to the study's pages)."""
    rows = []
    for r in shown.itertuples():
        study = str(r.study_id)
        lpi = "" if pd.isna(r.lpi) else day(r.lpi) + (" (actual)" if r.lpi_reached
                                                      else " (P50)")
        planned = None if pd.isna(r.planned) else int(r.planned)
        target = "–" if pd.isna(r.target) else str(int(r.target))
        over = None if pd.isna(r.vac_minor) else -int(r.vac_minor)
        rows.append({
            "study": study, "sponsor": r.sponsor, "stage": r.stage,
            "randomized / plan / target":
                f"{int(r.randomized)} / {'–' if planned is None else planned} / {target}",
            "vs plan": None if planned is None else int(r.randomized) - planned,
            "LPI": lpi, "slip (days)": None if pd.isna(r.lpi_slip_days)
            else int(r.lpi_slip_days),
            "CPI": ratio(r.cpi), "SPI": ratio(r.spi), "EAC": money(r.eac_minor, r.currency),
            "EAC − BAC": money(over, r.currency) if over is not None else
            (r.budget_note or ""),
            "next milestone": "" if pd.isna(r.next_milestone) else
            f"{r.next_milestone} {day(r.next_milestone_date)}",
            "open": " · ".join(f'<a href="./{page}?study={study}">{page}</a>'
                               for page in ("budget", "recruitment", "payments")),
        })
    return pd.DataFrame(rows, columns=COLUMNS)


class PortfolioView(Viewer):
    """Built once; a filter updates the summary and the table's rows in place."""

    state = param.ClassSelector(class_=PortfolioState)

    def __panel__(self) -> pn.viewable.Viewable:
        state = self.state
        filters = pn.Row(*(Choice.from_param(state.param[name], label=label,
                                                        width=220)
                           for name, label in (("sponsor", "Sponsor"),
                                               ("therapeutic_area", "Therapeutic area"),
                                               ("country", "Country"))))
        self._message = message("", "warning")
        self._summary = pn.pane.Markdown("")
        self._table = table(pd.DataFrame(columns=COLUMNS), "portfolio-table",
                            formatters={"open": {"type": "html"}}, frozen_columns=["study"])
        state.param.watch(self._show, ["shown"])
        self._show()
        return pn.Column(filters, self._message, self._summary, self._table,
                         sizing_mode="stretch_width")

    def _show(self, *_events: object) -> None:
        shown, state = self.state.shown, self.state
        empty = shown is None or shown.empty
        self._message.visible = bool(state.error) or empty
        self._message.object = state.error or (
            "No study matches these filters." if len(state.rows) else
            "No study in the store yet: import studies first (trialplan import studies "
            "FILE) or run trialplan demo.")
        self._summary.visible = self._table.visible = not empty
        if empty:
            return
        self._summary.object = (
            f"**{len(shown)} studies** · {int(shown['randomized'].sum()):,} randomized of "
            f"{int(shown['target'].fillna(0).sum()):,} targeted · "
            f"{int((shown['lpi_slip_days'].fillna(0) > 0).sum())} with LPI later than "
            "baseline")
        self._table.value = portfolio_rows(shown)
