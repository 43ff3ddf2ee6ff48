"""Budget page: cumulative PV, EV and AC with the forecast and its band; service lines."""

from __future__ import annotations

import holoviews as hv
import pandas as pd
import panel as pn
import param
from panel.viewable import Viewer

from contracts.budget_lines import TOTAL
from contracts.budget_picture import BudgetPicture
from dashboards.formatting import major, money, ratio
from dashboards.pages.common import Choice, figures, message, table
from dashboards.state.budget import BudgetState

SERIES = {"planned_minor": "PV (planned)", "earned_minor": "EV (earned)",
          "actual_minor": "AC (actual)", "forecast_minor": "forecast"}
CPI_WARNING = 0.95


BURN_COLUMNS = ["month", *SERIES.values(), "P10", "P90"]


def burn_frame(picture: BudgetPicture | None) -> pd.DataFrame:
    """The burn in major units for the chart axes (empty, same columns, without one)."""
    if picture is None:
        return pd.DataFrame({c: pd.Series(dtype="datetime64[s]" if c == "month" else float)
                             for c in BURN_COLUMNS})
    burn, currency = picture.burn, picture.budget.currency
    data = pd.DataFrame({"month": burn["month"]})
    for column, label in SERIES.items():
        data[label] = major(burn[column], currency).astype(float)
    data["P10"] = major(burn["forecast_p10_minor"], currency).astype(float)
    data["P90"] = major(burn["forecast_p90_minor"], currency).astype(float)
    return data


COLORS = {"PV (planned)": "#1f77b4", "EV (earned)": "#2ca02c", "AC (actual)": "#d62728",
          "forecast": "#ff7f0e"}


def burn_chart(picture: BudgetPicture | None) -> hv.Overlay:
    """Cumulative PV, EV, AC and the forecast with its P10–P90 band. The same layers with
    or without data, so a new as-of date updates the drawn chart in place (HoloViews
    elements built directly: hvPlot's conversion took half of an as-of change)."""
    data = burn_frame(picture)
    currency = picture.budget.currency if picture else ""
    band = hv.Area(data.dropna(subset=["P10", "P90"]), "month", ["P90", "P10"],
                   label="forecast P10–P90").opts(alpha=0.25, color="#999999",
                                                  line_alpha=0)
    lines = [hv.Curve(data, "month", (label, "cost"), label=label).opts(color=color)
             for label, color in COLORS.items()]
    title = (f"Cumulative cost, {picture.budget.study_id} as of {picture.budget.as_of}"
             if picture else "Cumulative cost")
    return hv.Overlay([band, *lines]).opts(
        hv.opts.Curve(tools=["hover"], yformatter="%.0f"),
        hv.opts.Overlay(height=380, responsive=True, title=title, framewise=True,
                        legend_position="top_left", xlabel="", ylabel=currency))


LINE_COLUMNS = ["service line", "flags", "BAC", "PV", "EV", "AC", "CPI", "SPI", "EAC", "ETC",
                "VAC"]


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
    return pd.DataFrame(rows, columns=LINE_COLUMNS)


def paint(row: pd.Series) -> list[str]:
    """EAC > BAC and CPI < 0.95 in red, as in the workbook."""
    red = "color: #c00000; font-weight: 600"
    return [red if (column == "EAC" and "EAC > BAC" in row["flags"]) or
            (column == "CPI" and "CPI < 0.95" in row["flags"]) or
            (column == "flags" and row["flags"]) else "" for column in row.index]


class BudgetView(Viewer):
    """Built once; a new study or as-of date updates the figures, the chart's data and the
    table's rows in place (no new plot: the browser redraws in tens of milliseconds)."""

    state = param.ClassSelector(class_=BudgetState)

    def __panel__(self) -> pn.viewable.Viewable:
        state = self.state
        controls = pn.Row(Choice.from_param(state.param.study, label="Study",
                                                       width=220),
                          Choice.from_param(state.param.as_of, label="As of",
                                                       width=160))
        self._message = message("", "warning")
        self._note = message("No recruitment forecast at this date (the study cannot be "
                             "forecast then): the forecast has no band.", "info")
        self._headline = pn.pane.HTML("", sizing_mode="stretch_width")
        self._chart = pn.pane.HoloViews(hv.DynamicMap(pn.bind(burn_chart, state.param.picture)),
                                        sizing_mode="stretch_width")
        self._lines = table(pd.DataFrame(columns=LINE_COLUMNS), "service-lines",
                            pagination=None)
        self._lines.style.apply(paint, axis=1)
        self._content = pn.Column(self._headline, self._note, self._chart, self._lines,
                                  sizing_mode="stretch_width")
        state.param.watch(self._show, ["picture", "error"])
        self._show()
        return pn.Column(controls, self._message, self._content, sizing_mode="stretch_width")

    def _show(self, *_events: object) -> None:
        picture, error = self.state.picture, self.state.error
        self._message.visible = picture is None
        self._message.object = error or "No budget to show."
        self._content.visible = picture is not None
        if picture is None:
            return
        evm, currency = picture.lines, picture.budget.currency
        total = evm[evm["service_line"] == TOTAL].iloc[0]
        self._headline.object = figures(
            ("As of", picture.budget.as_of.isoformat(), "budget-as-of"),
            ("BAC", money(total["bac_minor"], currency), "bac"),
            ("EAC", money(total["eac_minor"], currency), "eac"),
            ("VAC", money(total["vac_minor"], currency), "vac"),
            ("CPI", ratio(total["cpi"]), "cpi"), ("SPI", ratio(total["spi"]), "spi"))
        self._note.visible = not picture.bands
        self._lines.value = service_lines(evm)
