"""Rendering pieces every page uses: messages, tables, figures in their formats."""

from __future__ import annotations

import pandas as pd
import panel as pn
from holoviews.plotting.bokeh.renderer import BokehRenderer

TABLE_PAGE_SIZE = 25


class Choice(pn.widgets.Select):
    """A page's input chosen from a list (study, as-of date, filter). Panel waits 50 ms to
    coalesce a burst of changes (typing), which a choice never is: handled at once; and
    everything it changes on the page goes to the browser in one message, so the page is
    laid out once, not once per figure."""

    _debounce = 0

    def _process_events(self, events: dict[str, object]) -> None:
        with pn.io.hold():
            super()._process_events(events)


def draw_charts_on_canvas() -> None:
    """Bokeh's 2D canvas instead of HoloViews' default WebGL: the pages' charts have tens
    of glyphs, not the tens of thousands WebGL pays off for, and a WebGL context per
    chart costs a browser without a GPU (software GL) a quarter second a page."""
    BokehRenderer.webgl = False


def message(text: str, kind: str = "warning") -> pn.pane.Alert:
    """A page's empty or error state: the computation's own words."""
    return pn.pane.Alert(text, alert_type=kind, sizing_mode="stretch_width")


def table(frame: pd.DataFrame, name: str, **options: object) -> pn.widgets.Tabulator:
    """A read-only table with a stable CSS name for tests and links, paginated on the
    server: only the rows shown travel to the browser (500 sites stay quick)."""
    settings = {"disabled": True, "show_index": False, "pagination": "remote",
                "page_size": TABLE_PAGE_SIZE, "sizing_mode": "stretch_width",
                "layout": "fit_columns", "css_classes": [name]}
    settings.update(options)
    return pn.widgets.Tabulator(frame, **settings)


def figure_html(label: str, value: str, name: str) -> str:
    """A headline figure: a label over its value (``data-figure`` names it for tests)."""
    return (f'<div class="figure" data-figure="{name}" style="margin-right:28px">'
            f'<div style="font-size:0.8em;color:#555">{label}</div><div style="font-size:'
            f'1.4em;font-weight:600">{value}</div></div>')


def figures(*items: tuple[str, str, str]) -> str:
    """Headline figures side by side (one HTML pane: an update changes one property)."""
    return ('<div style="display:flex;flex-wrap:wrap">'
            + "".join(figure_html(*item) for item in items) + "</div>")


CHART_SITES = 30  # a per-site chart names this many sites (readable labels); tables list all


def ranked_sites(sites: pd.DataFrame, by: str, ascending: bool,
                 count: int = CHART_SITES) -> pd.DataFrame:
    """The ``count`` sites first in ``by`` order (sites without a value last): a chart of
    500 unlabeled bars shows nothing a reader can act on, and costs a second to draw."""
    ordered = sites.sort_values(by, ascending=ascending, na_position="last", kind="stable")
    return ordered.head(count)


def of_sites(shown: int, total: int) -> str:
    """How many of the study's sites a per-site chart shows, for its title."""
    return f"all {total} sites" if shown >= total else f"{shown} of {total} sites"
