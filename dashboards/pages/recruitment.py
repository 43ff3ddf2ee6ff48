"""Recruitment page: cumulative randomized (actual, baseline plan, forecast fan), the LPI
distribution, randomized by site and by country, and a what-if that redraws the forecast."""

from __future__ import annotations

import asyncio

import holoviews as hv
import hvplot.pandas  # noqa: F401  (registers .hvplot)
import pandas as pd
import panel as pn
import param
from panel.viewable import Viewer

from dashboards.access import Action, NotAllowed, may
from dashboards.formatting import day
from dashboards.pages.common import Choice, message, of_sites, ranked_sites, table
from dashboards.state.base import Outcome
from dashboards.state.recruitment import RecruitmentState
from planner.recruitment_picture import RecruitmentPicture


def joined(curve: pd.DataFrame) -> pd.DataFrame:
    """The curve for drawing: the fan starts from the last actual month, so the forecast
    continues the actual line instead of starting a month later."""
    drawn = curve.astype({c: "float" for c in ("actual", "planned", "p10", "p50", "p90")})
    known = drawn.index[drawn["actual"].notna()]
    if len(known) and drawn["p50"].notna().any():
        drawn.loc[known[-1], ["p10", "p50", "p90"]] = drawn.loc[known[-1], "actual"]
    return drawn


SERIES = {"actual": "#2ca02c", "planned": "#7f7f7f", "p50": "#1f77b4"}


def curve_chart(picture: RecruitmentPicture, what_if: RecruitmentPicture | None) -> hv.Overlay:
    """Actual, planned and the forecast P50 with its P10–P90 fan (HoloViews elements built
    directly: hvPlot's conversion was a third of the page's server time)."""
    curve = joined(picture.curve)
    layers: list[hv.Element] = []
    fan = curve.dropna(subset=["p10", "p90"])
    if len(fan):
        layers.append(hv.Area(fan, "month", ["p90", "p10"], label="forecast P10–P90").opts(
            alpha=0.25, color="#1f77b4", line_alpha=0))
    layers += [hv.Curve(curve, "month", (name, "randomized"), label=name).opts(color=color)
               for name, color in SERIES.items()]
    if what_if is not None:
        extra = joined(what_if.curve)
        layers.append(hv.Curve(extra, "month", ("p50", "randomized"), label="what-if P50")
                      .opts(color="#d62728", line_dash="dashed"))
    return hv.Overlay(layers).opts(
        hv.opts.Curve(tools=["hover"]),
        hv.opts.Overlay(height=360, responsive=True, legend_position="top_left", xlabel="",
                        ylabel="randomized",
                        title=f"{picture.study_id}: cumulative randomized, target "
                              f"{picture.target}"))


LPI_SHOWN = 0.995  # the LPI chart stops once this share of simulations has reached LPI


def lpi_chart(picture: RecruitmentPicture) -> hv.Bars:
    lpi = picture.lpi
    last = int((lpi["cumulative"] < LPI_SHOWN).sum())  # rows before the month reaching it
    lpi = lpi.iloc[:last + 1]
    lpi = lpi.assign(month=lpi["month"].dt.strftime("%Y-%m"))
    return hv.Bars(lpi, "month", "probability").opts(
        xrotation=60, height=260, responsive=True, xlabel="", ylabel="", tools=["hover"],
        title="LPI month (share of simulations, to 99.5 %)")


def site_chart(picture: RecruitmentPicture) -> hv.Element:
    """The sites that randomized most (how many randomized none is in the title)."""
    sites = picture.sites.assign(site=picture.sites["country"].astype(str) + " " +
                                 picture.sites["site_id"].astype(str))
    shown = ranked_sites(sites, "randomized", ascending=False)
    none = int((sites["randomized"] == 0).sum())
    which = of_sites(len(shown), len(sites))
    return shown.hvplot.bar(x="site", y="randomized", height=300, responsive=True, rot=90,
                            title=f"Randomized by site, most first ({which}; {none} with "
                            "none yet)", xlabel="", ylabel="")


def country_chart(picture: RecruitmentPicture) -> hv.Element:
    if "at_lpi_p50" not in picture.countries:
        return picture.countries.hvplot.bar(x="country", y="randomized", height=260,
                                            responsive=True, title="Randomized by country",
                                            xlabel="", ylabel="")
    counts = picture.countries.rename(columns={"randomized": "now", "at_lpi_p50": "at LPI P50"})
    return counts.hvplot.bar(x="country", y=["now", "at LPI P50"], height=260, responsive=True,
                             title="Randomized by country, now and at LPI (P50)", xlabel="",
                             ylabel="", legend="top_left").opts(xrotation=0, multi_level=False)


def milestone_rows(picture: RecruitmentPicture) -> pd.DataFrame:
    if picture.forecast is None:
        return pd.DataFrame(columns=["milestone", "P10", "P50", "P90", "reached"])
    return pd.DataFrame([{"milestone": m.name, "P10": day(m.p10), "P50": day(m.p50),
                          "P90": day(m.p90), "reached": "yes" if m.reached else ""}
                         for m in picture.forecast.milestones])


class RecruitmentView(Viewer):
    state = param.ClassSelector(class_=RecruitmentState)

    def __panel__(self) -> pn.viewable.Viewable:
        state = self.state
        self._run = pn.widgets.Button(label="Run what-if", color="primary",
                                      width=140, disabled=not may(state.role,
                                                                  Action.RECRUITMENT_WHAT_IF))
        self._run.on_click(self._what_if)
        self._spinner = pn.indicators.LoadingSpinner(value=False, width=30, height=30)
        what_if = pn.Row(
            Choice.from_param(state.param.what_if_country, label="Add sites in",
                                         width=120),
            pn.widgets.IntInput.from_param(state.param.what_if_sites, label="Sites", width=90),
            Choice.from_param(state.param.what_if_month, label="Opening",
                                         width=120),
            pn.Column(pn.Spacer(height=18), pn.Row(self._run, self._spinner)))
        return pn.Column(
            pn.Row(Choice.from_param(state.param.study, label="Study", width=220)),
            pn.bind(self._body, state.param.picture, state.param.what_if, state.param.error),
            pn.pane.Markdown("#### What-if: more sites"), what_if,
            pn.bind(self._what_if_result, state.param.what_if), sizing_mode="stretch_width")

    async def _what_if(self, _event: object) -> None:
        self._run.disabled, self._spinner.value = True, True
        try:
            done = await asyncio.to_thread(self.state.forecast_what_if)
        except NotAllowed as refused:
            done = Outcome(error=str(refused))
        finally:
            self._run.disabled, self._spinner.value = False, False
        self.state.show_what_if(done)  # on the UI thread: redraws race nothing

    def _what_if_result(self, what_if: RecruitmentPicture | None) -> pn.viewable.Viewable:
        picture = self.state.picture
        if what_if is None or picture is None or picture.forecast is None:
            return pn.pane.Markdown("")
        extra = what_if.extra[0]
        before = picture.forecast.milestone("LPI").p50
        after = what_if.forecast.milestone("LPI").p50
        return pn.pane.Markdown(
            f'<div data-figure="what-if">With {extra.count} more sites in {extra.country} '
            f"opening in {self.state.what_if_month}: LPI P50 <b>{day(after)}</b> "
            f"(now {day(before)})</div>")

    def _body(self, picture: RecruitmentPicture | None, what_if: RecruitmentPicture | None,
              error: str) -> pn.viewable.Viewable:
        if picture is None:
            return message(error or "No recruitment to show.")
        parts: list[pn.viewable.Viewable] = []
        if error:
            parts.append(message(error, "danger"))
        if picture.note:
            parts.append(message(f"No forecast: {picture.note}", "info"))
        randomized = int(picture.sites["randomized"].sum())
        lpi = picture.forecast.milestone("LPI") if picture.forecast else None
        parts.append(pn.pane.HTML(
            f'<div data-figure="randomized">{randomized} randomized of {picture.target} '
            f"as of {picture.as_of}</div>" + (
                f'<div data-figure="lpi">LPI P50 {day(lpi.p50)} (P10 {day(lpi.p10)}, '
                f"P90 {day(lpi.p90)})</div>" if lpi else "")))
        parts.append(pn.pane.HoloViews(curve_chart(picture, what_if),
                                       sizing_mode="stretch_width"))
        if len(picture.lpi):
            parts.append(pn.pane.HoloViews(lpi_chart(picture), sizing_mode="stretch_width"))
        # the breakdowns are a click away: a tab is drawn when opened, not with the page
        parts.append(pn.Tabs(
            ("By country", pn.pane.HoloViews(country_chart(picture),
                                             sizing_mode="stretch_width")),
            ("By site", pn.pane.HoloViews(site_chart(picture), sizing_mode="stretch_width")),
            dynamic=True, sizing_mode="stretch_width"))
        if picture.forecast is not None:
            parts.append(table(milestone_rows(picture), "milestones", pagination=None))
        return pn.Column(*parts, sizing_mode="stretch_width")
