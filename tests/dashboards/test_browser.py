"""The five pages in a real browser: Debian's Chromium driven by Playwright, the server
started here on a copy of the demo store. Each role logs in, opens its pages, sees a
figure equal to the computation's, is refused the pages it may not see, runs its
actions; no console errors. Screenshots of each page go to test-artifacts/screenshots.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

import pandas as pd
import pytest
from playwright.sync_api import Page, expect
from sqlalchemy import select
from sqlalchemy.orm import Session

from contracts.budget_lines import TOTAL
from contracts.site_payments import study_payments
from contracts.sponsor_budget import sponsor_budget
from dashboards.formatting import day, money
from dashboards.server import serve
from planner.frames import load_portfolio
from planner.payment_tables import PaymentRun
from planner.recruitment.forecast import ExtraSites
from planner.recruitment_picture import recruitment_picture
from planner.study_forecast import PLAN_SEED, PLAN_SIMS, months_until
from planner.tables import RebalanceRun
from planner.workload.portfolio import portfolio_workload
from tests.dashboards.conftest import ARTIFACTS, USERS, free_port

STUDY = "HLX-CV-302"
TIMEOUT = 30_000  # ms: a first page builds Panel's models and computes the figures


@pytest.fixture(scope="module")
def app_url(shared_engine) -> Iterator[str]:  # noqa: ANN001
    port = free_port()
    server = serve(shared_engine, port=port, address="127.0.0.1", threaded=True)
    yield f"http://127.0.0.1:{port}"
    server.stop()


@pytest.fixture
def watched(page: Page) -> Iterator[tuple[Page, list[str]]]:
    """The page and the console errors it logs (checked empty by each test)."""
    errors: list[str] = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.set_default_timeout(TIMEOUT)
    expect.set_options(timeout=TIMEOUT)
    yield page, errors


def log_in(page: Page, app_url: str, name: str) -> None:
    page.goto(f"{app_url}/login")
    page.fill("input[name=username]", name)
    page.fill("input[name=password]", USERS[name][1])
    page.click("button[type=submit]")
    expect(page).to_have_url(re.compile(r"/portfolio"))


def open_page(page: Page, app_url: str, path: str, ready: str) -> None:
    """Go to ``path`` and wait until ``ready`` shows (Panel renders after the load): a
    ``[data-figure=...]`` selector, else a text."""
    page.goto(f"{app_url}/{path}")
    target = page.locator(ready) if ready.startswith("[") else page.get_by_text(ready)
    expect(target.first).to_be_visible()


def shot(page: Page, name: str) -> None:
    """The whole page: the template scrolls inside its own container, so the window is
    made as tall as the content for the picture, then put back."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    size = page.viewport_size
    height = page.evaluate("Math.max(...[...document.querySelectorAll('*')]"
                           ".map(e => e.scrollHeight))")
    page.set_viewport_size({"width": size["width"], "height": min(max(height, 600), 4000)})
    page.wait_for_timeout(500)  # let the charts draw at the new size
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)
    page.set_viewport_size(size)


def figure(page: Page, name: str) -> str:
    return page.locator(f"[data-figure={name}]").first.inner_text()


def test_pm_uses_every_page(watched, app_url: str, shared_engine) -> None:  # noqa: ANN001
    page, errors = watched
    with Session(shared_engine) as session:
        portfolio = load_portfolio(session)
        evm = sponsor_budget(session, STUDY).evm
        lines = study_payments(session, STUDY).reconciliation.lines
    log_in(page, app_url, "ana")

    # portfolio: the study's randomized count, counted from the subjects
    subjects = portfolio.subjects[portfolio.subjects["study_id"] == STUDY]
    cut = pd.Timestamp(portfolio.latest_event(STUDY))
    randomized = int((subjects["randomized"] <= cut).sum())
    row = page.locator(".portfolio-table .tabulator-row", has_text=STUDY)
    expect(row).to_contain_text(f"{randomized} / ")
    shot(page, "portfolio-pm")
    # a filter narrows the table
    page.locator("select").nth(0).select_option("Kestrel Pharma")
    expect(page.locator(".portfolio-table .tabulator-row")).to_have_count(1)
    expect(page).to_have_url(re.compile(r"sponsor=Kestrel"))

    # budget: EAC equals the earned-value total
    open_page(page, app_url, f"budget?study={STUDY}", "[data-figure=eac]")
    total = evm[evm["service_line"] == TOTAL].iloc[0]
    assert figure(page, "eac").strip().endswith(money(total["eac_minor"], "USD"))
    shot(page, "budget-pm")

    # recruitment: a what-if redraws the forecast, with the LPI the computation gives
    open_page(page, app_url, f"recruitment?study={STUDY}", "[data-figure=lpi]")
    shot(page, "recruitment-pm")
    # the forecast of record: the same LPI P50 the store holds (`trialplan forecast`)
    stones = portfolio.milestones
    stored = stones[(stones["study_id"] == STUDY) & (stones["milestone"] == "lpi")]
    assert figure(page, "lpi").startswith(f"LPI P50 {day(stored['forecast'].iloc[0])}")
    country = page.locator("select").nth(1).input_value()
    month = page.locator("select").nth(2).input_value()
    sites = page.locator("input").last
    sites.fill("12")
    sites.press("Enter")
    page.get_by_role("button", name="Run what-if").click()
    expect(page.locator("[data-figure=what-if]")).to_be_visible()
    study = load_portfolio_of(shared_engine, STUDY)
    as_of = study.latest_event(STUDY)
    expected = recruitment_picture(study, STUDY, None, (
        ExtraSites(country, 12, months_until(as_of, month)),), PLAN_SIMS, PLAN_SEED
    ).forecast.milestone("LPI").p50
    assert f"LPI P50 {day(expected)}" in figure(page, "what-if")
    shot(page, "recruitment-what-if")

    # workload: the grid's overload count, then a rebalance proposed and applied
    # the solver settings come from the URL too: a 2 % proven gap, as the CLI tests ask
    open_page(page, app_url, "workload?gap=0.02", "[data-figure=over]")
    work = portfolio_workload(portfolio, portfolio.as_of, 12).utilization
    over = work[work["utilization"] > 1]
    assert figure(page, "over").startswith(
        f"{over['staff_id'].nunique()} CRAs over capacity in {len(over)} CRA-months")
    shot(page, "workload-pm")
    moves = page.locator("input").nth(0)
    moves.fill("3")
    moves.press("Enter")
    page.get_by_role("button", name="Rebalance").click()
    expect(page.locator("[data-figure=proposal]")).to_be_visible(timeout=90_000)
    with Session(shared_engine) as session:
        run = session.scalars(select(RebalanceRun).order_by(RebalanceRun.id.desc())).first()
    assert figure(page, "proposal").startswith(f"Proposal (run {run.id})")
    assert run.actor == "ana" and 0 < len(run.result["moves"]) <= 3
    assert run.options["rel_gap"] == 0.02
    expect(page.locator(".moves .tabulator-row")).to_have_count(len(run.result["moves"]))
    shot(page, "workload-proposal")
    page.get_by_role("button", name="Approve and apply the moves").click()
    expect(page.get_by_text("Applied")).to_be_visible()
    with Session(shared_engine) as session:
        assert session.get(RebalanceRun, run.id).applied_at is not None

    # payments: exceptions filtered by status; the pm sees no approval button
    open_page(page, app_url, f"payments?study={STUDY}", "[data-figure=payments-as-of]")
    page.get_by_text("Reconciliation exceptions").click()  # a tab, drawn when opened
    page.locator("select").nth(2).select_option("not_in_contract")
    expect(page.locator("[data-figure=exceptions]")).to_have_text(
        f"{int((lines['status'] == 'not_in_contract').sum())} invoice lines")
    expect(page).to_have_url(re.compile(r"status=not_in_contract"))
    page.get_by_text("Payment run", exact=True).click()
    expect(page.locator("[data-figure=run]").first).to_contain_text("preview (not stored)")
    expect(page.get_by_role("button", name="Approve this payment run")).to_have_count(0)
    shot(page, "payments-pm")
    page.goto(f"{app_url}/payments?study={STUDY}&status=duplicate")  # a link opens the tab
    expect(page.locator("[data-figure=exceptions]")).to_have_text(
        f"{int((lines['status'] == 'duplicate').sum())} invoice lines")
    assert errors == []


def load_portfolio_of(engine, study: str):  # noqa: ANN001, ANN201
    with Session(engine) as session:
        return load_portfolio(session, study)


def test_finance_approves_a_payment_run(watched, app_url: str, shared_engine) -> None:  # noqa: ANN001
    page, errors = watched
    log_in(page, app_url, "fred")
    open_page(page, app_url, "workload", "not allowed for your role")
    expect(page.locator("[data-figure=over]")).to_have_count(0)
    open_page(page, app_url, "payments?study=NRV-NEU-201", "[data-figure=payments-as-of]")
    page.get_by_text("Payment run", exact=True).click()  # a tab, drawn when opened
    expect(page.get_by_text("Payment run through").first).to_be_visible()
    with Session(shared_engine) as session:
        before = session.scalars(select(PaymentRun.id)).all()
    page.get_by_role("button", name="Approve this payment run").click()
    expect(page.get_by_text(re.compile(r"Approved run \d+"))).to_be_visible()
    with Session(shared_engine) as session:
        run = session.scalars(select(PaymentRun).where(PaymentRun.id.not_in(before))).one()
    assert run.actor == "fred"
    expect(page.locator("[data-figure=run]").first).to_contain_text(f"approved run {run.id}")
    shot(page, "payments-finance")
    assert errors == []


def test_viewer_reads_and_is_refused(watched, app_url: str) -> None:  # noqa: ANN001
    page, errors = watched
    log_in(page, app_url, "vic")
    for path in ("workload", "payments"):
        open_page(page, app_url, path, "not allowed for your role")
        shot(page, f"{path}-refused-viewer")
    nav = page.locator("#header")
    expect(nav).not_to_contain_text("Workload")
    open_page(page, app_url, "budget?study=KST-IMM-202&as_of=2026-06-30",
              "[data-figure=eac]")
    expect(page.locator("select").nth(1)).to_have_value("2026-06-30")
    shot(page, "budget-viewer")
    page.goto(f"{app_url}/")
    expect(page).to_have_url(re.compile(r"/portfolio"))
    page.goto(f"{app_url}/logout")
    page.goto(f"{app_url}/budget")
    expect(page).to_have_url(re.compile(r"/login"))
    assert errors == []
