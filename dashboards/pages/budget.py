"""Budget page: cumulative PV, EV and AC with the forecast and its band; service lines."""

from __future__ import annotations

import holoviews as hv
import hvplot.pandas  # noqa: F401  (registers .hvplot)
import pandas as pd
import panel as pn
import param
from panel.viewable import Viewer

from contracts.budget_lines import TOTAL
from contracts.budget_picture import BudgetPicture
from dashboards.formatting import major, money, ratio
from dashboards.pages.common import figure, message, table
from dashboards.state.budget import BudgetState

SERIES = {"planned_minor": "PV (planned)", "earned_minor": "EV (earned)",
          "actual_minor": "AC (actual)", "forecast_minor": "forecast"}
CPI_WARNING = 0.95


def burn_chart(picture: BudgetPicture) -> hv.Overlay:
    burn, currency = picture.burn, picture.budget.currency
    data = pd.DataFrame({"month": burn["month"]})
    for column, label in SERIES.items():
        data[label] = major(burn[column], currency).astype(float)
    data["P10"] = major(burn["forecast_p10_minor"], currency).astype(float)
    data["P90"] = major(burn["forecast_p90_minor"], currency).astype(float)
    band = data.dropna(subset=["P10", "P90"]).hvplot.area(
        x="month", y="P90", y2="P10", alpha=0.25, color="#999999", label="forecast P10–P90")
    lines = data.hvplot.line(x="month", y=list(SERIES.values()), ylabel=currency,
                             xlabel="", legend="top_left", yformatter="%.0f")
    return (band * lines).opts(height=380, responsive=True, title="Cumulative cost, "
                               f"{picture.budget.study_id} as of {picture.budget.as_of}")


def service_lines(evm: pd.DataFrame) -> pd.DataFrame:
    """The earned-value rows as text: money in the study's currency, CPI/SPI, flags."""
    rows = []
    for r in evm.itertuples():
        currency = str(r.currency)
        flags = [flag for flag, on in (
            ("EAC > BAC", r.eac_minor > r.bac_minor),
            ("CPI < 0.95", r.cpi is not None and float(r.cpi) < CPI_WARNING)) if on]
        rows.append({"service line": r.service_line, "flags": ", ".join(flags),
                     "BAC": money(r.bac_minor, currency),
                     "PV": money(r.pv_minor, currency), "EV": money(r.ev_minor, currency),
                     "AC": money(r.ac_minor, currency), "CPI": ratio(r.cpi),
                     "SPI": ratio(r.spi), "EAC": money(r.eac_minor, currency),
                     "ETC": money(r.etc_minor, currency), "VAC": money(r.vac_minor, currency)})
    return pd.DataFrame(rows)


def flagged(rows: pd.DataFrame) -> object:
    """The service-line table with EAC > BAC and CPI < 0.95 in red, as in the workbook."""
    def paint(row: pd.Series) -> list[str]:
        red = "color: #c00000; font-weight: 600"
        return [red if (column == "EAC" and "EAC > BAC" in row["flags"]) or
                (column == "CPI" and "CPI < 0.95" in row["flags"]) or
                (column == "flags" and row["flags"]) else "" for column in row.index]
    return rows.style.apply(paint, axis=1)


class BudgetView(Viewer):
    state = param.ClassSelector(class_=BudgetState)

    def __panel__(self) -> pn.viewable.Viewable:
        state = self.state
        controls = pn.Row(pn.widgets.Select.from_param(state.param.study, label="Study",
                                                       width=220),
                          pn.widgets.Select.from_param(state.param.as_of, label="As of",
                                                       width=160))
        return pn.Column(controls, pn.bind(self._body, state.param.picture,
                                           state.param.error), sizing_mode="stretch_width")

    def _body(self, picture: BudgetPicture | None, error: str) -> pn.viewable.Viewable:
        if picture is None:
            return message(error or "No budget to show.")
        evm, currency = picture.lines, picture.budget.currency
        total = evm[evm["service_line"] == TOTAL].iloc[0]
        headline = pn.Row(
            figure("As of", picture.budget.as_of.isoformat(), "budget-as-of"),
            figure("BAC", money(total["bac_minor"], currency), "bac"),
            figure("EAC", money(total["eac_minor"], currency), "eac"),
            figure("VAC", money(total["vac_minor"], currency), "vac"),
            figure("CPI", ratio(total["cpi"]), "cpi"), figure("SPI", ratio(total["spi"]), "spi"))
        note = [] if picture.bands else [message(
            "No recruitment forecast at this date (the study cannot be forecast then): the "
            "forecast has no band.", "info")]
        lines = table(flagged(service_lines(evm)), "service-lines", pagination=None)
        return pn.Column(headline, *note, pn.pane.HoloViews(burn_chart(picture),
                                                             sizing_mode="stretch_width"),
                         lines, sizing_mode="stretch_width")
