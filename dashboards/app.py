"""The web app: one page per path, each built for the logged-in user's role.

Each page is a state (``dashboards.state``) and a view (``dashboards.pages``) in
a shared template with navigation. The page's inputs (study, as-of date,
filters) are query parameters, kept in sync both ways, so a link reproduces a
view. Whether the role may open the page is checked here, on the server, when
the page is built; actions check again when they run.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import panel as pn

from dashboards import queries
from dashboards.access import TITLES, Page, may_open, pages_for, refusal
from dashboards.auth import user_role
from dashboards.pages.budget import BudgetView
from dashboards.pages.common import message
from dashboards.pages.payments import PaymentsView
from dashboards.pages.portfolio import PortfolioView
from dashboards.pages.recruitment import RecruitmentView
from dashboards.pages.workload import WorkloadView
from dashboards.source import StoreReader
from dashboards.state.base import PageState
from dashboards.state.budget import BudgetState
from dashboards.state.payments import PaymentsState
from dashboards.state.portfolio import PortfolioState
from dashboards.state.recruitment import RecruitmentState
from dashboards.state.workload import SOLVER_SETTINGS, WorkloadState
from planner.domain import AppRole

APP_TITLE = "trialplan"


@dataclass(frozen=True)
class PageKind:
    state: type[PageState]
    view: type[pn.viewable.Viewer]
    linked: tuple[str, ...]  # the state's parameters that are query parameters


PAGE_KINDS = {
    Page.PORTFOLIO: PageKind(PortfolioState, PortfolioView,
                             ("sponsor", "therapeutic_area", "country")),
    Page.BUDGET: PageKind(BudgetState, BudgetView, ("study", "as_of")),
    Page.RECRUITMENT: PageKind(RecruitmentState, RecruitmentView, ("study",)),
    Page.WORKLOAD: PageKind(WorkloadState, WorkloadView, SOLVER_SETTINGS),
    Page.PAYMENTS: PageKind(PaymentsState, PaymentsView, ("study", "as_of", "status")),
}


def navigation(current: Page, user: str | None, role: AppRole | None) -> pn.pane.HTML:
    links = " ".join(
        f'<a href="./{page.value}" style="color:white;margin-right:18px;'
        f'{"font-weight:700;text-decoration:underline" if page == current else ""}">'
        f"{TITLES[page]}</a>" for page in pages_for(role))
    who = f"{user} ({role.value})" if role else (user or "")
    return pn.pane.HTML(
        f'<nav style="color:white;font-size:1.05em">{links}<span style="margin-left:30px">'
        f'{who}</span> · <a href="./logout" style="color:white">log out</a></nav>')


def query_arguments(linked: tuple[str, ...]) -> dict[str, object]:
    """The page's inputs given in the URL (first value of each), as text."""
    arguments = pn.state.session_args or {}
    found: dict[str, object] = {}
    for name in linked:
        values = arguments.get(name)
        if values:
            raw = values[0]
            found[name] = raw.decode() if isinstance(raw, bytes) else raw
    return found


def _typed(state: type[PageState] | PageState, values: dict[str, object]
           ) -> dict[str, object]:
    """Numbers from the URL as numbers (max_moves=5); unreadable ones are left out."""
    typed = {}
    for name, value in values.items():
        default = state.param[name].default
        try:
            typed[name] = type(default)(value) if isinstance(default, int | float) else value
        except (TypeError, ValueError):
            continue
    return typed


def build_page(reader: StoreReader, page: Page, user: str | None = None
               ) -> pn.template.BaseTemplate:
    """The page for ``user`` (default: the logged-in one), or its refusal."""
    user = user if user is not None else pn.state.user
    role = user_role(reader.engine, user)
    template = pn.template.BootstrapTemplate(title=f"{APP_TITLE} · {TITLES[page]}",
                                             header=[navigation(page, user, role)],
                                             collapsed_sidebar=True)
    if not may_open(role, page):
        template.main.append(message(refusal(role, page), "danger"))
        return template
    kind = PAGE_KINDS[page]
    state = kind.state(reader, user, role, **_typed(kind.state, query_arguments(kind.linked)))
    if kind.linked and pn.state.location is not None:
        pn.state.location.sync(state, {name: name for name in kind.linked},
                               on_error=lambda bad: state.take_valid(_typed(state, bad)))
    template.main.append(kind.view(state=state))
    queries.warm(reader)  # after a change to the store, the other pages get ready
    return template


def routes(reader: StoreReader) -> dict[str, Callable[[], pn.template.BaseTemplate]]:
    """Path → page builder, for ``pn.serve``."""
    return {page.value: (lambda page=page: build_page(reader, page)) for page in Page}
