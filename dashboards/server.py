"""Serving the web app: the pages, the login, ``/`` leading to the portfolio."""

from __future__ import annotations

import gc
import os
import secrets

import panel as pn
from sqlalchemy import Engine
from tornado.web import RedirectHandler

from dashboards import queries
from dashboards.app import APP_TITLE, routes
from dashboards.auth import StoreAuthProvider
from dashboards.pages.common import draw_charts_on_canvas
from dashboards.source import StoreReader

COOKIE_SECRET_ENV = "TRIALPLAN_COOKIE_SECRET"


def cookie_secret() -> str:
    """$TRIALPLAN_COOKIE_SECRET (logins survive a restart, and several servers share
    them), else a random one per server start (everyone logs in again after it)."""
    return os.environ.get(COOKIE_SECRET_ENV, "").strip() or secrets.token_urlsafe(32)


def serve(engine: Engine, port: int = 5006, address: str = "127.0.0.1",
          origins: list[str] | None = None, threaded: bool = False, show: bool = False,
          reader: StoreReader | None = None, prefetch: bool = True) -> object:
    """Start the server on ``address:port`` (blocking unless ``threaded``, which returns
    the server thread: ``.stop()`` it). ``origins``: host:port values browsers may open
    it as, besides the address itself and localhost. ``prefetch`` False: nothing is
    computed before a page asks (the benchmark's cold case)."""
    pn.extension("tabulator", sizing_mode="stretch_width", notifications=False)
    draw_charts_on_canvas()
    reader = reader or StoreReader(engine, prefetch=prefetch)
    # what is loaded by now (modules, classes, the libraries' tables: ~370k objects) lives
    # as long as the server: kept out of the cyclic collector, whose full passes over it
    # paused a page or an interaction for a quarter second
    gc.freeze()
    queries.warm(reader)  # the first pages opened find their figures computed
    allowed = {f"{address}:{port}", f"localhost:{port}", f"127.0.0.1:{port}",
               *(origins or [])}
    return pn.serve(
        routes(reader), port=port, address=address, websocket_origin=sorted(allowed),
        show=show, threaded=threaded, title=APP_TITLE, auth_provider=StoreAuthProvider(engine),
        cookie_secret=cookie_secret(), extra_patterns=[(r"/", RedirectHandler,
                                                         {"url": "/portfolio"})])
