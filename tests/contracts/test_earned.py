"""Earned site payments (docs/SITE_PAYMENTS.md, "Earned items").

The CDISC pilot is priced with a fee grid of our own and every site's earned
total is checked against a plain loop over the store's SV rows written here
with Decimal arithmetic; the screen-failure cap, amendments, site overrides and
one-time fees are checked on hand-worked frames.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from decimal import ROUND_CEILING, ROUND_HALF_UP, Decimal

import numpy as np
import pandas as pd
import pytest
from sqlalchemy import select

from contracts.earned import earned_items
from contracts.minor import from_minor, scale_half_up
from contracts.schemas import EARNED, FEES, TERMS
from contracts.screen_failures import randomizations_needed
from contracts.site_contracts import site_contracts
from planner.frames import PLANNED_VISITS, SITES, SUBJECTS, VISITS, Portfolio, load_portfolio
from planner.importing.run import import_files
from planner.store import make_engine, transaction, upgrade
from planner.tables import PlannedVisit, Site, Subject, SubjectVisit
from tests.conftest import PILOT

STUDY = "CDISCPILOT01"
CENT = Decimal("0.01")
OVERHEAD, HOLDBACK = Decimal("27.5"), Decimal("10")
SF_RATIO, SF_MIN, SF_MAX = Decimal("0.25"), 1, 5
GRID_FROM = dt.date(2012, 1, 1)
# the pilot's 18 scheduled visits, a distinct amount each (odd cents: overhead rounds)
PILOT_VISITS = (1, 2, 3, 3.5, 4, 5, 6, 7, 8, 8.1, 9, 9.1, 10, 10.1, 11, 11.1, 12, 13)
TEMPLATE = {v: Decimal("101.37") + i * Decimal("13.11") for i, v in enumerate(PILOT_VISITS)}
AMENDED_FROM = dt.date(2013, 7, 1)  # the middle of the pilot
AMENDED = {3: Decimal("199.99"), 9: Decimal("250.05"), 13: Decimal("333.33")}
OVERRIDE_SITE, OVERRIDE_VISIT, OVERRIDE_FROM = "710", 4, dt.date(2013, 1, 1)
OVERRIDE_AMOUNT = Decimal("177.77")
SF_FEE, STARTUP_FEE, UNSCHEDULED_FEE = Decimal("250.55"), Decimal("4999.99"), Decimal("80.01")


def _cents(amount: Decimal) -> int:
    return int(amount * 100)


def _fee_row(item_type: str, code: str, amount: Decimal, start: dt.date, site: str | None = None,
             country: str = "US", currency: str = "USD", study: str = STUDY) -> dict:
    return {"study_id": study, "country": country, "site_id": site, "item_type": item_type,
            "item_code": code, "description": f"{item_type} {code}",
            "amount_minor": _cents(amount), "currency": currency,
            "effective_from": pd.Timestamp(start), "cap": None, "source": "test"}


def _terms_row(overhead: Decimal = OVERHEAD, holdback: Decimal = HOLDBACK,
               sf_ratio: Decimal | None = SF_RATIO, sf_min: int | None = SF_MIN,
               sf_max: int | None = SF_MAX, site: str | None = None, country: str = "US",
               study: str = STUDY) -> dict:
    return {"study_id": study, "country": country, "site_id": site,
            "overhead_pct": overhead, "holdback_pct": holdback, "sf_ratio": sf_ratio,
            "sf_min": sf_min, "sf_max": sf_max, "payment_frequency": "monthly",
            "terms_days": 30, "source": "test"}


def pilot_fees() -> pd.DataFrame:
    rows = [_fee_row("visit", f"{v:g}", amount, GRID_FROM) for v, amount in TEMPLATE.items()]
    rows += [_fee_row("visit", f"{v:g}", amount, AMENDED_FROM) for v, amount in AMENDED.items()]
    rows.append(_fee_row("visit", f"{OVERRIDE_VISIT:g}", OVERRIDE_AMOUNT, OVERRIDE_FROM,
                         site=OVERRIDE_SITE))
    rows += [_fee_row("screen_failure", "SF", SF_FEE, GRID_FROM),
             _fee_row("one_time", "STARTUP", STARTUP_FEE, GRID_FROM),
             _fee_row("invoiceable", "UNSCHEDULED", UNSCHEDULED_FEE, GRID_FROM)]
    return FEES.conform(pd.DataFrame(rows))


@pytest.fixture(scope="module")
def pilot(tmp_path_factory: pytest.TempPathFactory) -> tuple[Portfolio, object]:
    """The CDISC pilot imported into a SQLite store: its portfolio and the engine."""
    path = tmp_path_factory.mktemp("pilot") / "store.db"
    engine = make_engine(f"sqlite:///{path}")
    upgrade(engine)
    files = [PILOT / f"{name}.xpt" for name in ("dm", "ds", "sv", "tv", "ts")]
    with transaction(engine, "tester") as session:
        import_files(session, "sdtm", files, "tester")
    with transaction(engine, "tester") as session:
        portfolio = load_portfolio(session, STUDY)
    yield portfolio, engine
    engine.dispose()


# ---- the independent computation: plain Python over the store's rows -----------------

def _money(amount: Decimal) -> Decimal:
    return amount.quantize(CENT, rounding=ROUND_HALF_UP)


def _line(fee: Decimal) -> tuple[Decimal, Decimal]:
    gross = _money(fee * (1 + OVERHEAD / 100))
    return gross, _money(gross * HOLDBACK / 100)


def _visit_fee(site: str, visit_num: float, day: dt.date) -> Decimal | None:
    if site == OVERRIDE_SITE and visit_num == OVERRIDE_VISIT and day >= OVERRIDE_FROM:
        return OVERRIDE_AMOUNT
    if visit_num in AMENDED and day >= AMENDED_FROM:
        return AMENDED[visit_num]
    return TEMPLATE.get(visit_num) if day >= GRID_FROM else None


def independent_earned(engine: object, as_of: dt.date) -> tuple[dict, dict]:
    """{site: (Σ gross, Σ holdback)} and {subject: (status, earned_date)} of screen failures."""
    with transaction(engine, "tester") as session:
        sv = session.execute(
            select(Site.site_id, Subject.subject_id, Subject.randomized_date,
                   Subject.screen_failed_date, SubjectVisit.visit_num, SubjectVisit.visit_seq,
                   SubjectVisit.visit_date)
            .join(Subject, SubjectVisit.subject_pk == Subject.id)
            .join(Site, Subject.site_pk == Site.id)).all()
        people = session.execute(select(Site.site_id, Subject.subject_id, Subject.randomized_date,
                                        Subject.screen_failed_date)
                                 .join(Site, Subject.site_pk == Site.id)).all()
        scheduled = {v for (v,) in session.execute(
            select(PlannedVisit.visit_num).where(PlannedVisit.scheduled))}
        activations = session.execute(select(Site.site_id, Site.actual_activation)).all()
    gross, held = defaultdict(Decimal), defaultdict(Decimal)

    def earn(site: str, fee: Decimal) -> None:
        line_gross, line_held = _line(fee)
        gross[site] += line_gross
        held[site] += line_held

    paid_visits = set()
    for site, subject, randomized, failed, visit_num, _seq, day in sorted(
            sv, key=lambda r: (r[1], r[4], r[5])):
        if failed is not None and randomized is None:
            continue  # a screen failure's visits are paid through the SF fee
        if day is None or day > as_of or visit_num not in scheduled:
            continue
        if (subject, visit_num) in paid_visits:
            continue  # a repeat: the first one was the visit
        paid_visits.add((subject, visit_num))
        fee = _visit_fee(site, visit_num, day)
        if fee is not None:
            earn(site, fee)
    for site, activated in activations:
        if activated is not None and activated <= as_of:
            earn(site, STARTUP_FEE)
    screen_failures = {}
    for site in sorted({p[0] for p in people}):
        randomized = sorted(p[2] for p in people
                            if p[0] == site and p[2] is not None and p[2] <= as_of)
        failures = sorted((p[3], p[1]) for p in people if p[0] == site and p[3] is not None
                          and p[2] is None and p[3] <= as_of)
        for k, (day, subject) in enumerate(failures, start=1):
            need = int((Decimal(k) / SF_RATIO).to_integral_value(rounding=ROUND_CEILING))
            if k > SF_MAX:
                screen_failures[subject] = ("sf_over_cap", None)
            elif k <= SF_MIN:
                screen_failures[subject] = ("earned", day)
            elif len(randomized) >= need:
                screen_failures[subject] = ("earned", max(day, randomized[need - 1]))
            else:
                screen_failures[subject] = ("sf_over_cap", None)
            if screen_failures[subject][0] == "earned":
                earn(site, SF_FEE)
    return {s: (gross[s], held[s]) for s in gross}, screen_failures


def earned_of(sites: pd.DataFrame, subjects: pd.DataFrame, visits: pd.DataFrame,
              planned: pd.DataFrame, fees: pd.DataFrame, terms: pd.DataFrame,
              as_of: dt.date) -> pd.DataFrame:
    """earned_items of the sites' contracts under ``fees`` and ``terms``."""
    return earned_items(site_contracts(sites, fees, terms, visits), subjects, visits, planned,
                        fees, as_of)


def site_totals(earned: pd.DataFrame) -> dict[str, tuple[Decimal, Decimal, str]]:
    """Per site: Σ gross and Σ holdback of the items earned (held screen failures and
    invoice-only rows count 0), in the site's currency, and the currency."""
    sums: dict[str, tuple[int, int, str]] = {}
    for row in earned.itertuples():
        gross, held, currency = sums.get(row.site_id, (0, 0, row.currency))
        if row.status == "earned":
            gross, held = gross + row.gross_minor, held + row.holdback_minor
        sums[row.site_id] = (gross, held, currency)
    return {site: (from_minor(int(gross), currency), from_minor(int(held), currency), currency)
            for site, (gross, held, currency) in sums.items()}


def _earned(portfolio: Portfolio, fees: pd.DataFrame, terms: pd.DataFrame,
            as_of: dt.date) -> pd.DataFrame:
    return earned_of(portfolio.sites, portfolio.subjects, portfolio.visits,
                        portfolio.planned_visits, fees, terms, as_of)


@pytest.mark.parametrize("as_of", [dt.date(2013, 10, 15), dt.date(2016, 1, 1)])
def test_pilot_earned_totals_equal_a_plain_loop_over_sv(pilot, as_of) -> None:  # noqa: ANN001
    portfolio, engine = pilot
    earned = _earned(portfolio, pilot_fees(), TERMS.conform(pd.DataFrame([_terms_row()])), as_of)
    expected, screen_failures = independent_earned(engine, as_of)
    totals = site_totals(earned)
    assert set(totals) == set(expected)
    for site, (gross, held) in expected.items():
        assert totals[site] == (gross, held, "USD"), site
    failures = earned[earned["item_type"] == "screen_failure"].set_index("subject_id")
    got = {s: (r["status"], None if pd.isna(r["earned_date"]) else r["earned_date"].date())
           for s, r in failures.iterrows()}
    assert got == screen_failures
    if as_of.year == 2016:
        assert len(failures) == 52
        assert (failures["status"] == "sf_over_cap").sum() > 0  # the cap bites in the pilot


def test_pilot_items_are_what_the_rules_say(pilot) -> None:  # noqa: ANN001
    portfolio, _ = pilot
    earned = _earned(portfolio, pilot_fees(), TERMS.conform(pd.DataFrame([_terms_row()])),
                     dt.date(2016, 1, 1))
    visits = earned[earned["item_type"] == "visit"]
    assert len(visits) == 3559 - 52 - 234  # SV rows less screen failures' and unscheduled
    assert not visits.duplicated(["subject_id", "item_code"]).any()
    unscheduled = earned[earned["status"] == "invoice_only"]
    assert len(unscheduled) == 234
    assert set(unscheduled["item_code"]) == {"UNSCHEDULED"}
    assert unscheduled["earned_date"].isna().all()
    # the pilot's one repeated VISITNUM (9.2) is unscheduled: two invoice-only occurrences
    repeat = unscheduled[unscheduled["subject_id"] == "01-711-1143"]
    assert "VISITNUM 9.2 on 2013-09-22 (unscheduled)" in " ".join(repeat["source"])
    first = earned.iloc[0]
    assert first["source"] == ("SV: USUBJID 01-701-1015 VISITNUM 1 on 2013-12-26")
    assert len(earned[earned["item_type"] == "one_time"]) == 17
    assert earned.equals(_earned(portfolio, pilot_fees(),
                                 TERMS.conform(pd.DataFrame([_terms_row()])),
                                 dt.date(2016, 1, 1)))
    keys = earned[["study_id", "site_id", "subject_id", "service_date"]].astype(object)
    keys["subject_id"] = keys["subject_id"].fillna("\uffff")  # site-level items last
    assert list(keys.itertuples(index=False)) == sorted(keys.itertuples(index=False))


# ---- hand-worked frames --------------------------------------------------------------

def _sites(*rows: tuple[str, str, str, str | None]) -> pd.DataFrame:
    """(site_id, country, status, actual_activation)."""
    return SITES.conform(pd.DataFrame([{
        "study_id": "S", "site_id": site, "country": country, "investigator": "x",
        "status": status, "planned_activation": None,
        "actual_activation": pd.Timestamp(activated) if activated else pd.NaT,
        "target_randomized": None, "cra_id": None} for site, country, status, activated in rows]))


def _subjects(*rows: tuple[str, str, str | None, str | None]) -> pd.DataFrame:
    """(site_id, subject_id, randomized, screen_failed)."""
    return SUBJECTS.conform(pd.DataFrame([{
        "study_id": "S", "site_id": site, "subject_id": subject, "arm": None,
        "screened": pd.Timestamp(randomized or failed) - pd.Timedelta(days=5),
        "randomized": pd.Timestamp(randomized) if randomized else pd.NaT,
        "screen_failed": pd.Timestamp(failed) if failed else pd.NaT, "discontinued": pd.NaT,
        "completed": pd.NaT, "disposition": None} for site, subject, randomized, failed in rows],
        columns=SUBJECTS.names))


def _visits(*rows: tuple[str, str, float, int, str]) -> pd.DataFrame:
    """(site_id, subject_id, visit_num, visit_seq, visit_date)."""
    return VISITS.conform(pd.DataFrame([{
        "study_id": "S", "site_id": site, "subject_id": subject, "visit_num": num,
        "visit_seq": seq, "visit_name": f"V{num}", "visit_date": pd.Timestamp(day)}
        for site, subject, num, seq, day in rows], columns=VISITS.names))


def _planned(*nums: float) -> pd.DataFrame:
    return PLANNED_VISITS.conform(pd.DataFrame([{
        "study_id": "S", "visit_num": n, "visit_name": f"V{n}", "planned_day": None,
        "scheduled": True} for n in nums], columns=PLANNED_VISITS.names))


def _fees(*rows: tuple) -> pd.DataFrame:
    """(item_type, code, amount, effective_from[, site])."""
    return FEES.conform(pd.DataFrame([_fee_row(t, c, Decimal(a), dt.date.fromisoformat(d),
                                               *rest, study="S") for t, c, a, d, *rest in rows]))


def _terms(**kw: object) -> pd.DataFrame:
    return TERMS.conform(pd.DataFrame([_terms_row(study="S", **kw)]))


def _cap_case(as_of: dt.date) -> pd.DataFrame:
    # site A: randomizations R1-R3, then screen failures F1-F3, then R4-R8, F4, R9-R16
    randomized = ["2020-02-01", "2020-02-10", "2020-02-20", "2020-04-01", "2020-04-05",
                  "2020-04-10", "2020-04-15", "2020-04-20", *(f"2020-06-0{d}" for d in
                                                              range(1, 9))]
    failed = {"F1": "2020-03-01", "F2": "2020-03-05", "F3": "2020-03-10", "F4": "2020-05-01"}
    subjects = _subjects(*((("A", f"R{i}", day, None) for i, day in enumerate(randomized, 1))),
                         *(("A", s, None, day) for s, day in failed.items()))
    earned = earned_of(_sites(("A", "US", "enrolling", "2020-01-01")), subjects, _visits(),
                          _planned(1), _fees(("screen_failure", "SF", "100.00", "2020-01-01")),
                          _terms(overhead=Decimal(0), sf_ratio=Decimal("0.25"), sf_min=1,
                                 sf_max=3), as_of)
    return earned.set_index("subject_id")[["status", "earned_date"]]


def test_screen_failure_cap_hand_worked() -> None:
    # ratio 0.25 (one paid per 4 randomized), min 1, max 3; ranks by screen-failure date:
    # F1 (k=1) ≤ min: earned on its own date 2020-03-01.
    # F2 (k=2) needs ⌈2/0.25⌉ = 8 randomized; 3 on 2020-03-05: held until R8 on 2020-04-20.
    # F3 (k=3) needs 12: R12 on 2020-06-04 lifts it.
    # F4 (k=4) > max 3: held for ever, although R16 (2020-06-08) reaches ⌈4/0.25⌉ = 16.
    got = _cap_case(dt.date(2020, 12, 31))
    assert got.to_dict("index") == {
        "F1": {"status": "earned", "earned_date": pd.Timestamp("2020-03-01")},
        "F2": {"status": "earned", "earned_date": pd.Timestamp("2020-04-20")},
        "F3": {"status": "earned", "earned_date": pd.Timestamp("2020-06-04")},
        "F4": {"status": "sf_over_cap", "earned_date": pd.NaT},
    }
    # as of 2020-05-31: R12 not yet, so F3 is held; F4 is over the maximum
    got = _cap_case(dt.date(2020, 5, 31))
    assert list(got["status"]) == ["earned", "earned", "sf_over_cap", "sf_over_cap"]
    assert got["earned_date"].isna().tolist() == [False, False, True, True]
    # as of 2020-04-19: R8 not yet, F2 and F3 held; F4 not failed yet (no row)
    got = _cap_case(dt.date(2020, 4, 19))
    assert got.to_dict("index") == {
        "F1": {"status": "earned", "earned_date": pd.Timestamp("2020-03-01")},
        "F2": {"status": "sf_over_cap", "earned_date": pd.NaT},
        "F3": {"status": "sf_over_cap", "earned_date": pd.NaT},
    }


def test_randomizations_needed_is_exact() -> None:
    # in float 3 / 0.3 = 10.000000000000002 and its ceiling would be 11
    assert randomizations_needed(np.array([1, 2, 3, 4]), Decimal("0.3")).tolist() == [4, 7, 10, 14]
    assert randomizations_needed(np.array([1, 2]), Decimal("0.25")).tolist() == [4, 8]
    assert randomizations_needed(np.array([1, 2]), None).tolist() == [0, 0]  # no ratio


def test_amendments_and_site_overrides_pick_the_fee_by_date() -> None:
    # template visit 1: 100.00 from 2020-01-01, amended to 120.00 from 2020-07-01;
    # site B overrides it with 150.00 from 2020-04-01 (and keeps it: the override
    # replaces the template for that item, amendment included)
    fees = _fees(("visit", "1", "100.00", "2020-01-01"), ("visit", "1", "120.00", "2020-07-01"),
                 ("visit", "1", "150.00", "2020-04-01", "B"))
    sites = _sites(("A", "US", "enrolling", "2019-12-01"), ("B", "US", "enrolling", "2019-12-01"))
    days = ["2019-12-31", "2020-03-01", "2020-06-30", "2020-07-01", "2020-08-01"]
    subjects = _subjects(*((site, f"{site}{i}", "2019-12-20", None)
                           for site in "AB" for i in range(len(days))))
    visits = _visits(*((site, f"{site}{i}", 1.0, 1, day) for site in "AB"
                       for i, day in enumerate(days)))
    earned = earned_of(sites, subjects, visits, _planned(1), fees,
                          _terms(overhead=Decimal(0)), dt.date(2020, 12, 31))
    got = {(r.subject_id, r.service_date.date().isoformat()): r.fee_minor
           for r in earned.itertuples()}
    assert got == {  # 2019-12-31: before the grid, not earned
        ("A1", "2020-03-01"): 10000, ("A2", "2020-06-30"): 10000,
        ("A3", "2020-07-01"): 12000, ("A4", "2020-08-01"): 12000,
        ("B1", "2020-03-01"): 10000, ("B2", "2020-06-30"): 15000,
        ("B3", "2020-07-01"): 15000, ("B4", "2020-08-01"): 15000,
    }


def test_visits_paid_once_unscheduled_invoice_only_and_screen_failures_unpaid() -> None:
    fees = _fees(("visit", "1", "10.00", "2020-01-01"), ("visit", "2", "20.00", "2020-01-01"),
                 ("invoiceable", "UNSCHEDULED", "5.00", "2020-01-01"),
                 ("screen_failure", "SF", "7.00", "2020-01-01"))
    subjects = _subjects(("A", "P1", "2020-02-01", None), ("A", "F1", None, "2020-02-03"))
    visits = _visits(("A", "P1", 1.0, 1, "2020-02-01"), ("A", "P1", 1.0, 2, "2020-02-08"),
                     ("A", "P1", 1.1, 1, "2020-02-09"), ("A", "P1", 1.1, 2, "2020-02-10"),
                     ("A", "P1", 2.0, 1, "2020-03-01"), ("A", "P1", 3.0, 1, "2020-03-02"),
                     ("A", "P1", 2.0, 2, "2020-04-01"),
                     ("A", "F1", 1.0, 1, "2020-02-02"))
    sites = _sites(("A", "US", "enrolling", "2020-01-01"))
    earned = earned_of(sites, subjects, visits, _planned(1, 2, 3), fees,
                          _terms(overhead=Decimal(0), sf_min=1), dt.date(2020, 3, 15))
    rows = [(r.subject_id, r.item_type, r.item_code, r.occurrence,
             r.service_date.date().isoformat(), r.status,
             None if pd.isna(r.item_ref) else r.item_ref) for r in earned.itertuples()]
    # item_ref: NA where the code is the identity (once per VISITNUM, per screen
    # failure); an unscheduled visit is its SV row, VISITNUM and repeat number
    assert rows == [
        ("F1", "screen_failure", "SF", 1, "2020-02-03", "earned", None),  # its visit 1: unpaid
        ("P1", "visit", "1", 1, "2020-02-01", "earned", None),  # the repeat on 02-08: unpaid
        ("P1", "invoiceable", "UNSCHEDULED", 1, "2020-02-09", "invoice_only", "SV 1.1 #1"),
        ("P1", "invoiceable", "UNSCHEDULED", 2, "2020-02-10", "invoice_only", "SV 1.1 #2"),
        ("P1", "visit", "2", 1, "2020-03-01", "earned", None),
        # visit 3 has no fee: not earned; the visit on 2020-04-01 is after the as-of date
    ]
    # a visit entered late, dated earlier, shifts the occurrences, not the identities
    late = pd.concat([visits, _visits(("A", "P1", 1.2, 1, "2020-02-05"))], ignore_index=True)
    moved = earned_of(sites, subjects, late, _planned(1, 2, 3), fees,
                         _terms(overhead=Decimal(0), sf_min=1), dt.date(2020, 3, 15))
    unscheduled = moved[moved["status"] == "invoice_only"]
    assert list(zip(unscheduled["item_ref"], unscheduled["occurrence"], strict=True)) == [
        ("SV 1.2 #1", 1), ("SV 1.1 #1", 2), ("SV 1.1 #2", 3)]
    # without a TV, integer VISITNUMs are the scheduled ones
    no_tv = earned_of(sites, subjects, visits, _planned(), fees, _terms(overhead=Decimal(0)),
                         dt.date(2020, 3, 15))
    assert no_tv[["item_type", "item_code", "status"]].values.tolist() == \
        earned[["item_type", "item_code", "status"]].values.tolist()


def test_one_time_fees_on_activation_and_closeout() -> None:
    fees = _fees(*(("one_time", code, "1000.00", "2020-01-01") for code in
                   ("STARTUP", "IRB", "CLOSEOUT", "ARCHIVING")),
                 ("visit", "1", "10.00", "2020-01-01"))
    sites = _sites(("A", "US", "closed", "2020-01-15"), ("B", "US", "enrolling", "2020-02-01"),
                   ("C", "US", "closed", "2020-03-01"), ("D", "FR", "closed", "2020-01-15"))
    subjects = _subjects(("A", "P1", "2020-02-01", None), ("D", "P2", "2020-02-01", None))
    visits = _visits(("A", "P1", 1.0, 1, "2020-09-30"), ("D", "P2", 1.0, 1, "2020-09-30"))

    def one_time(as_of: dt.date) -> list[tuple]:
        earned = earned_of(sites, subjects, visits, _planned(1), fees,
                              _terms(overhead=Decimal(0)), as_of)
        rows = earned[earned["item_type"] == "one_time"]
        assert rows["subject_id"].isna().all() and rows["item_ref"].isna().all()
        return [(r.site_id, r.item_code, r.service_date.date().isoformat(),
                 r.earned_date.date().isoformat()) for r in rows.itertuples()]

    # A: activated 2020-01-15, closed: close-out = its last subject visit (2020-09-30);
    # B: not closed; C: closed with no visit: close-out = its activation; D: no contract
    # (FR has no fees nor terms); no PHARMACY fee in the grid: not earned
    assert one_time(dt.date(2020, 12, 31)) == [
        ("A", "IRB", "2020-01-15", "2020-01-15"), ("A", "STARTUP", "2020-01-15", "2020-01-15"),
        ("A", "ARCHIVING", "2020-09-30", "2020-09-30"),
        ("A", "CLOSEOUT", "2020-09-30", "2020-09-30"),
        ("B", "IRB", "2020-02-01", "2020-02-01"), ("B", "STARTUP", "2020-02-01", "2020-02-01"),
        ("C", "ARCHIVING", "2020-03-01", "2020-03-01"), ("C", "CLOSEOUT", "2020-03-01",
                                                         "2020-03-01"),
        ("C", "IRB", "2020-03-01", "2020-03-01"), ("C", "STARTUP", "2020-03-01", "2020-03-01"),
    ]
    assert one_time(dt.date(2020, 1, 31)) == [
        ("A", "IRB", "2020-01-15", "2020-01-15"), ("A", "STARTUP", "2020-01-15", "2020-01-15")]


# ---- exact money ------------------------------------------------------------------------

def test_scale_half_up_rounds_halves_away_from_zero() -> None:
    # 1 cent × 0.5 = half a cent (0.005 → 0.01); negative halves go away from zero
    assert scale_half_up(np.array([1, -1, 3, -3]), Decimal("0.5")).tolist() == [1, -1, 2, -2]
    assert scale_half_up(np.array([100, -100]), Decimal("0.125")).tolist() == [13, -13]
    assert scale_half_up(np.array([1]), Decimal("0.4999")).tolist() == [0]
    amounts = np.arange(-1000, 1001, dtype=np.int64)
    for factor in (Decimal("1.275"), Decimal("0.1"), Decimal("1.005"), Decimal("0.26")):
        expected = [int((Decimal(int(a)) * factor).quantize(Decimal(1), rounding=ROUND_HALF_UP))
                    for a in amounts]
        assert scale_half_up(amounts, factor).tolist() == expected


def test_no_float_on_the_money_path(pilot) -> None:  # noqa: ANN001
    portfolio, _ = pilot
    earned = _earned(portfolio, pilot_fees(), TERMS.conform(pd.DataFrame([_terms_row()])),
                     dt.date(2016, 1, 1))
    assert list(earned.columns) == EARNED.names
    for column in ("fee_minor", "gross_minor", "holdback_minor"):
        assert earned[column].dtype == np.int64


def test_gross_and_holdback_round_each_line_once() -> None:
    # fee 1.00 with 0.5 % overhead: 1.005 → 1.01; holdback 10 % of 1.01 = 0.101 → 0.10;
    # fee 0.05 with 0.5 %: 0.05025 → 0.05; holdback 50 % of 0.05 = 0.025 → 0.03
    fees = _fees(("visit", "1", "1.00", "2020-01-01"), ("visit", "2", "0.05", "2020-01-01"))
    subjects = _subjects(("A", "P1", "2020-02-01", None))
    visits = _visits(("A", "P1", 1.0, 1, "2020-02-01"), ("A", "P1", 2.0, 1, "2020-02-02"))
    for holdback, expected in ((Decimal(10), [(100, 101, 10), (5, 5, 1)]),
                               (Decimal(50), [(100, 101, 51), (5, 5, 3)])):
        earned = earned_of(_sites(("A", "US", "enrolling", "2020-01-01")), subjects, visits,
                              _planned(1, 2), fees,
                              _terms(overhead=Decimal("0.5"), holdback=holdback),
                              dt.date(2020, 12, 31))
        assert earned[["fee_minor", "gross_minor", "holdback_minor"]].values.tolist() == \
            [list(e) for e in expected]


def test_nothing_earned_without_a_contract() -> None:
    sites = _sites(("A", "US", "enrolling", "2020-01-01"))
    subjects = _subjects(("A", "P1", "2020-02-01", None))
    visits = _visits(("A", "P1", 1.0, 1, "2020-02-01"))
    no_terms = TERMS.conform(pd.DataFrame(columns=TERMS.names))
    earned = earned_of(sites, subjects, visits, _planned(1),
                          _fees(("visit", "1", "10.00", "2020-01-01")), no_terms,
                          dt.date(2020, 12, 31))
    assert earned.empty and list(earned.columns) == EARNED.names



def test_fee_in_force_keeps_amounts_beyond_float_precision() -> None:
    # 2**60 + 3 is not a float: the site's own row must come back exact, not 2**60
    from contracts.fee_grid import fee_in_force

    big = 2**60
    fees = _fees(("visit", "1", "0.01", "2020-01-01"), ("visit", "1", "0.01", "2020-01-01", "B"))
    fees["amount_minor"] = [big + 1, big + 3]
    requests = pd.DataFrame({"study_id": "S", "site_id": ["A", "B", "A"], "country": "US",
                             "item_type": "visit", "item_code": ["1", "1", "2"],
                             "date": pd.Timestamp("2020-02-01")})
    found = fee_in_force(fees, requests)
    assert found["fee_minor"].tolist()[:2] == [big + 1, big + 3]
    assert found["fee_minor"].isna().tolist() == [False, False, True]


def test_a_site_terms_row_replaces_its_country_terms() -> None:
    # country US: 27.5 % overhead, 10 % holdback; site B's own row: 0 % and 5 %
    fees = _fees(("visit", "1", "100.00", "2020-01-01"))
    terms = TERMS.conform(pd.DataFrame([
        _terms_row(study="S"), _terms_row(Decimal(0), Decimal(5), site="B", study="S")]))
    sites = _sites(("A", "US", "enrolling", "2020-01-01"), ("B", "US", "enrolling", "2020-01-01"))
    subjects = _subjects(("A", "P1", "2020-02-01", None), ("B", "P2", "2020-02-01", None))
    visits = _visits(("A", "P1", 1.0, 1, "2020-02-01"), ("B", "P2", 1.0, 1, "2020-02-01"))
    earned = earned_of(sites, subjects, visits, _planned(1), fees, terms, dt.date(2020, 12, 31))
    assert earned[["site_id", "gross_minor", "holdback_minor"]].values.tolist() == [
        ["A", 12750, 1275], ["B", 10000, 500]]
