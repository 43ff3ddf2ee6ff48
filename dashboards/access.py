"""Which role may open which page and take which action (docs/DASHBOARDS.md).

Checked on the server, where the page is built and where each action runs: a
hidden button is a convenience, :func:`require` is the rule.
"""

from __future__ import annotations

from enum import StrEnum

from planner.domain import AppRole


class Page(StrEnum):
    PORTFOLIO = "portfolio"
    BUDGET = "budget"
    RECRUITMENT = "recruitment"
    WORKLOAD = "workload"
    PAYMENTS = "payments"


class Action(StrEnum):
    RECRUITMENT_WHAT_IF = "recruitment what-if"  # a forecast, not stored
    PROPOSE_REBALANCE = "propose a CRA rebalance"  # stored as a rebalance run
    APPLY_REBALANCE = "apply a CRA rebalance"  # moves sites between CRAs (audited)
    APPROVE_PAYMENT_RUN = "approve a payment run"  # stores and freezes it (audited)


PAGE_ROLES: dict[Page, frozenset[AppRole]] = {
    Page.PORTFOLIO: frozenset(AppRole),
    Page.BUDGET: frozenset(AppRole),
    Page.RECRUITMENT: frozenset(AppRole),
    # named staff's utilization: line management, not for finance or sponsor viewers
    Page.WORKLOAD: frozenset({AppRole.PM}),
    # site payments: study and finance staff, not viewers
    Page.PAYMENTS: frozenset({AppRole.PM, AppRole.FINANCE}),
}
ACTION_ROLES: dict[Action, frozenset[AppRole]] = {
    Action.RECRUITMENT_WHAT_IF: frozenset(AppRole),
    Action.PROPOSE_REBALANCE: frozenset({AppRole.PM}),
    Action.APPLY_REBALANCE: frozenset({AppRole.PM}),
    Action.APPROVE_PAYMENT_RUN: frozenset({AppRole.FINANCE}),
}
TITLES = {Page.PORTFOLIO: "Portfolio", Page.BUDGET: "Budget", Page.RECRUITMENT: "Recruitment",
          Page.WORKLOAD: "Workload", Page.PAYMENTS: "Payments"}


class NotAllowed(PermissionError):
    """A page or an action the user's role may not use."""


def may_open(role: AppRole | None, page: Page) -> bool:
    return role is not None and role in PAGE_ROLES[page]


def may(role: AppRole | None, action: Action) -> bool:
    return role is not None and role in ACTION_ROLES[action]


def pages_for(role: AppRole | None) -> list[Page]:
    """The pages ``role`` may open, in navigation order."""
    return [page for page in Page if may_open(role, page)]


def require(role: AppRole | None, action: Action) -> None:
    """Refuse ``action`` unless ``role`` may take it."""
    if not may(role, action):
        shown = role.value if role is not None else "no role"
        raise NotAllowed(f"{action.value} is not allowed for your role ({shown})")


def refusal(role: AppRole | None, page: Page) -> str:
    shown = role.value if role is not None else "no role"
    allowed = ", ".join(sorted(r.value for r in PAGE_ROLES[page]))
    return (f"The {TITLES[page]} page is not allowed for your role ({shown}); "
            f"it is open to: {allowed}.")
