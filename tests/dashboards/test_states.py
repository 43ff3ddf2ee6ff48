"""Every page's state driven headlessly: change a parameter, and the figures the view
shows equal the computation's own result (or an independent count)."""

from __future__ import annotations

import datetime as dt
import math

import pandas as pd
import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from contracts.budget_lines import TOTAL
from contracts.payments_picture import EXCEPTION_STATUSES
from contracts.portfolio_status import portfolio_status
from contracts.site_payments import study_payments
from contracts.sponsor_budget import sponsor_budget
from dashboards.access import NotAllowed
from dashboards.source import StoreReader
from dashboards.state.base import PageState
from dashboards.state.budget import BudgetState
from dashboards.state.payments import PaymentsState
from dashboards.state.portfolio import ALL, PortfolioState
from dashboards.state.recruitment import RecruitmentState
from dashboards.state.workload import WorkloadState
from planner.domain import AppRole
from planner.frames import load_portfolio
from planner.payment_tables import PaymentRun
from planner.tables import AuditEntry, CraAssignment, RebalanceRun
from planner.workload.portfolio import portfolio_workload

STUDY = "HLX-CV-302"
PM, FINANCE, VIEWER = AppRole.PM, AppRole.FINANCE, AppRole.VIEWER


def parameter_changes(state: PageState) -> list:
    """The events of every change to ``state``'s parameters from now on."""
    changed: list = []
    state.param.watch(lambda *events: changed.extend(events),
                      [name for name in state.param if name != "name"])
    return changed


def test_portfolio_rows_and_filters(shared_reader: StoreReader, shared_engine) -> None:  # noqa: ANN001
    state = PortfolioState(shared_reader, "vic", VIEWER)
    with Session(shared_engine) as session:
        expected = portfolio_status(session)
        portfolio = load_portfolio(session)
    pd.testing.assert_frame_equal(state.shown, expected)
    # randomized by the cut, counted straight from the subjects
    subjects = portfolio.subjects
    row = state.shown.set_index("study_id").loc[STUDY]
    assert row["randomized"] == int(((subjects["study_id"] == STUDY)
                                     & (subjects["randomized"] <= row["as_of"])).sum())
    state.sponsor = "Helix Therapeutics"
    assert set(state.shown["study_id"]) == {"HLX-CV-302", "HLX-MET-101"}
    state.sponsor = ALL
    state.country = "JP"
    sites = portfolio.sites
    assert set(state.shown["study_id"]) == set(sites.loc[sites["country"] == "JP", "study_id"])
    state.therapeutic_area = "immunology"
    assert list(state.shown["study_id"]) == ["KST-IMM-202"]
    state.sponsor = "Helix Therapeutics"
    assert state.shown.empty


def test_a_link_with_an_unknown_filter_value_is_ignored(shared_reader: StoreReader) -> None:
    state = PortfolioState(shared_reader, "vic", VIEWER, sponsor="Nobody Pharma", country="DE")
    assert state.sponsor == ALL and state.country == "DE"
    assert len(state.shown) and all("DE" in c for c in state.shown["countries"])


def test_budget_follows_study_and_as_of(shared_reader: StoreReader, shared_engine) -> None:  # noqa: ANN001
    state = BudgetState(shared_reader, "vic", VIEWER, study=STUDY)
    assert state.as_of == state.param.as_of.objects[-1] == "2026-10-31"
    for as_of in ("2026-10-31", "2026-03-31"):
        state.as_of = as_of
        with Session(shared_engine) as session:
            evm = sponsor_budget(session, STUDY, dt.date.fromisoformat(as_of)).evm
        shown = state.picture.lines
        pd.testing.assert_frame_equal(shown, evm)
        total = evm[evm["service_line"] == TOTAL].iloc[0]
        burn = state.picture.burn
        ended = burn[burn["earned_minor"].notna()]
        # cumulative EV never falls, never passes BAC, and at the last month ended by the
        # cut equals the earned-value total (both cuts are month ends)
        assert ended["earned_minor"].is_monotonic_increasing
        assert int(ended["earned_minor"].max()) <= int(total["bac_minor"])
        assert int(ended["earned_minor"].iloc[-1]) == int(total["ev_minor"])
        assert int(ended["actual_minor"].iloc[-1]) == int(total["ac_minor"])
    state.study = "AUR-ONC-301"
    assert state.as_of == "2026-10-31" and state.picture.budget.study_id == "AUR-ONC-301"


def test_budget_without_a_work_order_says_so(own_engine, own_reader) -> None:  # noqa: ANN001
    from planner.budget_tables import WorkOrderLine
    from planner.tables import Study
    with Session(own_engine) as session:
        pk = session.scalar(select(Study.id).where(Study.study_id == "KST-IMM-202"))
        session.query(WorkOrderLine).filter(WorkOrderLine.study_pk == pk).delete()
        session.commit()
    state = BudgetState(own_reader, "vic", VIEWER, study="KST-IMM-202")
    assert state.picture is None
    assert state.error.startswith("KST-IMM-202 has no work order")
    assert "Traceback" not in state.error


def test_recruitment_and_the_what_if(shared_reader: StoreReader, shared_engine) -> None:  # noqa: ANN001
    state = RecruitmentState(shared_reader, "vic", VIEWER, study=STUDY)
    picture = state.picture
    with Session(shared_engine) as session:
        subjects = load_portfolio(session, STUDY).subjects
    randomized = int((subjects["randomized"] <= pd.Timestamp(picture.as_of)).sum())
    assert int(picture.sites["randomized"].sum()) == randomized
    curve = picture.curve.set_index("month")
    assert int(curve.loc[curve["actual"].notna(), "actual"].iloc[-1]) == randomized
    assert math.isclose(picture.lpi["probability"].sum(), picture.lpi["cumulative"].iloc[-1])
    lpi = picture.forecast.milestone("LPI")
    assert state.what_if_country in set(picture.sites["country"])
    state.what_if_sites, state.what_if_month = 20, state.param.what_if_month.objects[1]
    changed = parameter_changes(state)  # made off the UI thread: it changes nothing shown
    done = state.forecast_what_if()
    assert changed == [] and state.what_if is None
    more = state.show_what_if(done)
    # extra sites draw from their own random stream: the forecast can only move earlier
    assert more.forecast.milestone("LPI").p50 <= lpi.p50
    assert more.extra[0].count == 20 and state.what_if is more
    state.study = "AUR-ONC-301"  # target reached: no forecast, the reason is shown
    assert state.picture.forecast is None and "already reached" in state.picture.note
    assert state.what_if is None


def test_workload_propose_and_apply(own_engine, own_reader) -> None:  # noqa: ANN001
    reader = own_reader
    viewer = WorkloadState(reader, "vic", VIEWER)
    with pytest.raises(NotAllowed):
        viewer.propose()
    # settings out of their bounds (from a link, say) leave the defaults
    odd = WorkloadState(reader, "ana", PM, gap=0.9, max_moves=-1, time_limit=5.0)
    assert (odd.gap, odd.max_moves, odd.time_limit) == (1e-4, 10, 5.0)
    # a 2 % proven gap, as the CLI tests ask: every property below holds for any plan
    state = WorkloadState(reader, "ana", PM, max_moves=3, time_limit=20.0, gap=0.02)
    with Session(own_engine) as session:
        portfolio = load_portfolio(session)
        expected = portfolio_workload(portfolio, portfolio.as_of, 12).utilization
        before = {(a.site_pk, a.staff_pk) for a in session.scalars(
            select(CraAssignment).where(CraAssignment.effective_to.is_(None)))}
    pd.testing.assert_frame_equal(state.workload.utilization, expected)
    document = state.propose()
    assert document is not None and not state.error
    assert 0 < len(document["moves"]) <= 3
    changes = len(document["moves"]) + len(document["new_assignments"])  # + sites without one
    with Session(own_engine) as session:
        run = session.get(RebalanceRun, document["run"])
        assert run.actor == "ana" and run.applied_at is None
        assert (run.options["max_moves"], run.options["rel_gap"]) == (3, 0.02)
    if document["status"] == "optimal":  # proven within what was asked
        assert document["gap"] <= 0.02
    assert state.apply() and state.applied
    with Session(own_engine) as session:
        after = {(a.site_pk, a.staff_pk) for a in session.scalars(
            select(CraAssignment).where(CraAssignment.effective_to.is_(None)))}
        moved = session.scalars(select(AuditEntry).where(
            AuditEntry.entity == "cra_assignment", AuditEntry.action == "insert")
            .order_by(AuditEntry.id.desc()).limit(changes)).all()
    assert len(after - before) == changes
    assert len(before - after) == len(document["moves"])  # the moved sites' old CRAs
    assert {entry.actor for entry in moved} == {"ana"}
    # the page shows the workload after the moves
    assert not state.workload.utilization.equals(expected)


def test_payments_filter_and_approval(own_engine, own_reader) -> None:  # noqa: ANN001
    reader = own_reader
    state = PaymentsState(reader, "ana", PM, study=STUDY)
    with Session(own_engine) as session:
        lines = study_payments(session, STUDY).reconciliation.lines
    assert len(state.exceptions) == int((lines["status"] != "matched").sum())
    for status in EXCEPTION_STATUSES:
        state.status = status
        assert len(state.exceptions) == int((lines["status"] == status).sum())
        assert set(state.exceptions["status"]) <= {status}
    earned = state.picture.payments.reconciliation.items
    assert state.picture.sites["earned_minor"].sum() == earned["gross_minor"].sum()

    def runs() -> int:
        with Session(own_engine) as session:
            return session.scalar(select(func.count()).select_from(PaymentRun))

    stored = runs()
    for role in (PM, VIEWER):  # a finance-only action, refused on the server
        with pytest.raises(NotAllowed, match="not allowed for your role"):
            PaymentsState(reader, "x", role, study=STUDY).approve()
    assert runs() == stored
    finance = PaymentsState(reader, "fred", FINANCE, study=STUDY)
    preview = finance.picture.preview
    assert len(preview.lines) > 0
    changed = parameter_changes(finance)  # stored off the UI thread: it changes nothing shown
    done = finance.store_approval()
    assert changed == [] and finance.approved is None
    run = finance.show_approval(done)
    assert changed
    assert run.run_id is not None and run.actor == "fred" and runs() == stored + 1
    assert run.totals() == preview.totals()
    # the page now shows the figures after the approval: nothing is left to pay
    assert finance.picture.preview.lines.empty
    assert finance.approved is run
