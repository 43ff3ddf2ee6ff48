"""The demo portfolio: built through the real importers, realistic, repeatable, audited.

Realism is recomputed from the portfolio frames, not taken from the
generator, so these tests also prove that what the importers stored is what
the demo meant.
"""

from __future__ import annotations

import time
from collections.abc import Iterator

import numpy as np
import pandas as pd
import pytest
from sqlalchemy import Engine, func, select

from planner.domain import AuditAction, MilestoneKind, Role, SiteStatus
from planner.frames import Portfolio, load_portfolio
from planner.store import make_engine, transaction
from planner.summary import status_document
from planner.tables import AuditEntry, Base
from tests.conftest import initialised_url, snapshot
from trialplan.demo import DEMO_AS_OF, DemoSummary, build_demo, generate
from trialplan.demo.catalogue import STUDIES, can_monitor

ACTOR = "demo-tester"
PILOT = "CDISCPILOT01"
AUDITED = ("sponsor", "study", "site", "subject", "subject_visit", "planned_visit", "staff",
           "cra_assignment", "milestone", "staff_leave", "driver_override")
CUT = pd.Timestamp(DEMO_AS_OF)


def _build(engine: Engine) -> tuple[DemoSummary, float]:
    started = time.perf_counter()
    with transaction(engine, ACTOR) as session:
        summary = build_demo(session, ACTOR)
    return summary, time.perf_counter() - started


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def built(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
          ) -> Iterator[tuple[Engine, DemoSummary, float]]:
    """One build per database into a new store: the engine, the summary, the seconds. The
    tests read it; the second build is checked to change nothing."""
    folder = tmp_path_factory.mktemp("demo-build")
    for url in initialised_url(request, request.param, folder):
        engine = make_engine(url)
        summary, seconds = _build(engine)
        yield engine, summary, seconds
        engine.dispose()


def _portfolio(engine: Engine) -> Portfolio:
    with transaction(engine, ACTOR) as session:
        return load_portfolio(session)


def _randomized_per_site(portfolio: Portfolio) -> pd.Series:
    randomized = portfolio.subjects[portfolio.subjects["randomized"].notna()]
    counts = randomized.groupby(["study_id", "site_id"], observed=True).size()
    keys = pd.MultiIndex.from_frame(portfolio.sites[["study_id", "site_id"]].astype(object))
    return counts.reindex(keys, fill_value=0)


def test_the_demo_portfolio_is_realistic(built: tuple[Engine, DemoSummary, float]) -> None:
    """One build per database, then every realism check on what the store holds."""
    store, summary, seconds = built
    print(f"demo build on {store.dialect.name}: {seconds:.1f} s, {summary}")
    portfolio = _portfolio(store)
    _size_of_a_cro_book_of_work(summary, portfolio)
    _history_stops_at_the_cut_and_respects_targets(portfolio)
    _sites_open_before_they_screen_and_some_never_enroll(portfolio)
    _cras_monitor_where_they_may_and_some_are_overloaded(portfolio)
    _milestones_follow_the_history(portfolio)


def _size_of_a_cro_book_of_work(summary: DemoSummary, portfolio: Portfolio) -> None:
    document = status_document(portfolio)
    studies = {row["study_id"]: row for row in document["studies"]}
    assert len(studies) >= 5 and PILOT in studies
    assert sum(row["sites"] for row in studies.values()) >= 200
    assert document["staff"] >= 30
    assert (studies[PILOT]["subjects_screened"], studies[PILOT]["subjects_randomized"],
            studies[PILOT]["screen_failures"]) == (306, 254, 52)
    assert summary == DemoSummary(
        studies=len(studies), sites=sum(r["sites"] for r in studies.values()),
        subjects=sum(r["subjects_screened"] for r in studies.values()),
        randomized=sum(r["subjects_randomized"] for r in studies.values()),
        visits=sum(r["visits"] for r in studies.values()), staff=document["staff"],
        assignments=document["assignments"], changed=summary.changed)
    assert summary.changed > summary.visits  # everything was new
    demo = portfolio.studies[portfolio.studies["study_id"] != PILOT]
    assert {"I", "II", "III"} <= set(demo["phase"])
    assert demo["sponsor"].nunique() >= 4 and demo["therapeutic_area"].nunique() >= 5
    assert portfolio.sites["country"].nunique() >= 12
    roles = portfolio.staff["role"].value_counts()
    assert roles[Role.CRA.value] >= 30
    assert {r.value for r in Role} <= set(roles.index)


def _history_stops_at_the_cut_and_respects_targets(p: Portfolio) -> None:
    assert p.visits["visit_date"].max() <= CUT
    for column in ("screened", "randomized", "screen_failed", "discontinued", "completed"):
        assert not (p.subjects[column] > CUT).any(), column
    randomized = p.subjects[p.subjects["randomized"].notna()].groupby("study_id").size()
    target = p.studies.set_index("study_id")["target_randomized"]
    assert (randomized <= target.reindex(randomized.index)).all()
    # no demo subject is seen before being screened (the pilot has 12 visits before its
    # DMDTC, its de-identified screening date); randomization follows screening
    demo_visits = p.visits[p.visits["study_id"] != PILOT]
    first_visit = demo_visits.groupby("subject_id", observed=True)["visit_date"].min()
    screened = p.subjects.set_index("subject_id")["screened"]
    assert (first_visit >= screened.reindex(first_visit.index.astype(object))).all()
    assert (p.subjects["randomized"].dropna() >= p.subjects.loc[
        p.subjects["randomized"].notna(), "screened"]).all()
    # every visit of a demo study is in its TV (the pilot's unscheduled 3.1, 5.1 ... are not)
    planned = p.planned_visits[["study_id", "visit_num"]].astype({"study_id": object})
    seen = demo_visits[["study_id", "visit_num"]].astype({"study_id": object}).drop_duplicates()
    assert len(seen.merge(planned, how="left", indicator=True).query("_merge == 'left_only'")) == 0


def _sites_open_before_they_screen_and_some_never_enroll(p: Portfolio) -> None:
    sites = p.sites.set_index(["study_id", "site_id"])
    opened = sites["status"].isin([SiteStatus.ACTIVATED.value, SiteStatus.ENROLLING.value,
                                   SiteStatus.CLOSED.value])
    assert sites.loc[opened, "actual_activation"].notna().all()
    assert not sites.loc[~opened, "actual_activation"].notna().any()
    assert (sites["actual_activation"].dropna() <= CUT).all()
    assert (sites["planned_activation"].notna() | sites["actual_activation"].notna()).all()
    first_screening = p.subjects.groupby(["study_id", "site_id"], observed=True)["screened"].min()
    enrolling = sites[sites["status"] == SiteStatus.ENROLLING.value]
    first = first_screening.reindex(enrolling.index)
    assert first.notna().all() and (enrolling["actual_activation"] <= first).all()
    assert (sites["status"] == SiteStatus.SELECTED.value).any()  # still in start-up
    randomized = _randomized_per_site(p)
    activated = p.sites["actual_activation"].notna().to_numpy()
    zero_share = float((randomized.to_numpy()[activated] == 0).mean())
    assert 0.10 <= zero_share <= 0.30, zero_share


def _cras_monitor_where_they_may_and_some_are_overloaded(p: Portfolio) -> None:
    staff = p.staff.set_index("staff_id")
    cras = staff[staff["role"] == Role.CRA.value]
    hours = p.countries.set_index("country")["working_hours_month"]
    expected = hours.reindex(cras["home_country"]).to_numpy()  # a full-time month: FTE later
    assert np.allclose(cras["capacity_hours_month"].to_numpy(), expected, atol=0.05)
    open_now = p.assignments[p.assignments["effective_to"].isna()]
    sites = p.sites.set_index(["study_id", "site_id"])
    for row in open_now.itertuples(index=False):
        country = sites.loc[(row.study_id, row.site_id), "country"]
        cra = staff.loc[row.staff_id]
        assert cra["role"] == Role.CRA.value
        assert can_monitor(cra["home_country"], cra["languages"], country), row
    demo_sites = p.sites[p.sites["study_id"] != PILOT]
    assert demo_sites.loc[demo_sites["status"] != SiteStatus.IDENTIFIED.value,
                          "cra_id"].notna().all()
    per_cra = open_now.groupby("staff_id").size()
    assert per_cra.max() >= 1.5 * per_cra.median()
    assert len(per_cra) == len(cras)  # every CRA has work


def _milestones_follow_the_history(p: Portfolio) -> None:
    milestones = p.milestones.set_index(["study_id", "milestone"])
    randomized = p.subjects[p.subjects["randomized"].notna()]
    for spec in STUDIES:
        mine = milestones.loc[spec.study_id]
        assert set(mine.index) == {k.value for k in MilestoneKind}
        assert mine["baseline"].notna().all() and mine["forecast"].notna().all()
        assert (mine["actual"].dropna() <= CUT).all()
        assert (mine["forecast"].where(mine["actual"].isna()).dropna() > CUT).all()
        dates = randomized.loc[randomized["study_id"] == spec.study_id, "randomized"]
        dates = dates.sort_values().reset_index(drop=True)
        fpi = mine.loc[MilestoneKind.FPI.value, "actual"]
        assert (pd.isna(fpi) and dates.empty) or fpi == dates.iloc[0]
        for kind, share in ((MilestoneKind.ENROLLED_50, 0.5), (MilestoneKind.LPI, 1.0)):
            needed = int(np.ceil(spec.target_randomized * share))
            actual = mine.loc[kind.value, "actual"]
            if len(dates) >= needed:
                assert actual == dates.iloc[needed - 1]
            else:
                assert pd.isna(actual)
        activations = p.sites.loc[p.sites["study_id"] == spec.study_id, "actual_activation"]
        assert mine.loc[MilestoneKind.FIRST_SITE_ACTIVATED.value, "actual"] == activations.min()
    assert milestones["actual"].notna().groupby(level=1).sum()[MilestoneKind.LPI.value] >= 1


def test_a_second_build_changes_nothing_and_every_insert_is_audited(
        built: tuple[Engine, DemoSummary, float]) -> None:
    store, first, _ = built
    before = snapshot(store)
    second, _ = _build(store)
    assert snapshot(store) == before
    assert second.changed == 0
    assert second == DemoSummary(**{**first.__dict__, "changed": 0})
    with store.connect() as connection:
        audited = dict(connection.execute(
            select(AuditEntry.entity, func.count()).where(
                AuditEntry.action == AuditAction.INSERT.value).group_by(AuditEntry.entity)).all())
        for name in AUDITED:
            table = Base.metadata.tables[name]
            rows = connection.execute(select(func.count()).select_from(table)).scalar_one()
            assert rows > 0 and audited.get(name) == rows, name


def test_generation_is_deterministic_in_seed_and_cut() -> None:
    one, two = generate(), generate()
    for name in ("studies", "staff", "sites", "milestones"):
        pd.testing.assert_frame_equal(getattr(one, name), getattr(two, name))
    for study_id, frames in one.sdtm.items():
        for domain, frame in frames.items():
            pd.testing.assert_frame_equal(frame, two.sdtm[study_id][domain])
    other = generate(seed=7)
    assert not other.sites["actual_activation"].equals(one.sites["actual_activation"])
    earlier = generate(as_of=DEMO_AS_OF.replace(year=2026, month=4, day=30))
    dates = pd.to_datetime(pd.concat([f["SV"]["SVSTDTC"] for f in earlier.sdtm.values()]))
    assert dates.max() <= pd.Timestamp(2026, 4, 30)
