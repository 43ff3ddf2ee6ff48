"""Rendering pieces every page uses: messages, tables, figures in their formats."""

from __future__ import annotations

import pandas as pd
import panel as pn

TABLE_PAGE_SIZE = 25


def message(text: str, kind: str = "warning") -> pn.pane.Alert:
    """A page's empty or error state: the computation's own words."""
    return pn.pane.Alert(text, alert_type=kind, sizing_mode="stretch_width")


def table(frame: pd.DataFrame, name: str, **options: object) -> pn.widgets.Tabulator:
    """A read-only, paginated table with a stable CSS name for tests and links."""
    settings = {"disabled": True, "show_index": False, "pagination": "local",
                "page_size": TABLE_PAGE_SIZE, "sizing_mode": "stretch_width",
                "layout": "fit_data_table", "css_classes": [name]}
    settings.update(options)
    return pn.widgets.Tabulator(frame, **settings)


def figure(label: str, value: str, name: str) -> pn.pane.HTML:
    """A headline figure: a label over its value (``data-figure`` names it for tests)."""
    return pn.pane.HTML(
        f'<div class="figure" data-figure="{name}"><div style="font-size:0.8em;'
        f'color:#555">{label}</div><div style="font-size:1.4em;font-weight:600">'
        f'{value}</div></div>', margin=(0, 20, 0, 0))
