"""Activation costs from the site contracts, else the per-country defaults: hand-worked
cases to the cent, site overrides, fees in force at the cut, FX, and the demo through
`trialplan activation`.

The hand case (study S1, data cut 2026-12-31, study currency EUR). The DE template,
in EUR, in force since 2026-01-01: STARTUP 5,000.00, IRB 1,000.00; visits 1, 2, 3
(scheduled, days -14, 1, 85) at 100.00, 200.00, 300.00; screen failure SF 50.00; an
unscheduled-visit fee (invoiceable, not a scheduled visit) and a visit-3 amendment
dated after the cut that must not count. Terms: overhead 20 %, no sf_ratio. The
study plans a 20 % screen-failure rate and no dropout.

* start-up = 5,000 × 1.2 + 1,000 × 1.2 = 6,000.00 + 1,200.00 = 7,200.00
* screen failures per randomized = 0.2 / (1 − 0.2) = 0.25
* per patient = (100 + 200 + 300) × 1.2 + 50 × 1.2 × 0.25 = 720.00 + 15.00 = 735.00

A GB candidate (no GB template) takes the GB defaults of
optimizer/data/activation_costs.csv, converted from GBP.
"""

from __future__ import annotations

import datetime as dt
import json
from decimal import Decimal
from pathlib import Path

import pandas as pd
import pytest
from sqlalchemy import create_engine
from sqlalchemy.orm import Session

from contracts.budgets import load_fees, load_terms
from contracts.schemas import FEES, TERMS
from optimizer.activation_costs import (
    ContractBook,
    candidate_costs,
    load_cost_defaults,
    load_fx,
    screen_failures_per_randomized,
    visit_shares,
)
from optimizer.activation_inputs import activation_problem
from planner.frames import PLANNED_VISITS, STAFF, empty_frame, load_portfolio
from planner.recruitment.history import ForecastInputError
from tests.conftest import copy_store
from tests.trialplan.cli_runner import trialplan

CUT = dt.date(2026, 12, 31)
SIGNED = "2026-01-01"
FX = load_fx(CUT)
NO_STAFF = empty_frame(STAFF)


def fee(code: str, amount: str, item_type: str = "one_time", country: str = "DE",
        site: str | None = None, currency: str = "EUR", since: str = SIGNED) -> dict:
    minor = int(Decimal(amount).scaleb(2 if currency != "JPY" else 0))
    return {"study_id": "S1", "country": country, "site_id": site, "item_type": item_type,
            "item_code": code, "description": code, "amount_minor": minor,
            "currency": currency, "effective_from": pd.Timestamp(since), "cap": pd.NA,
            "source": "test"}


def terms(overhead: str, sf_ratio: str | None = None, country: str = "DE",
          site: str | None = None) -> dict:
    return {"study_id": "S1", "country": country, "site_id": site,
            "overhead_pct": Decimal(overhead), "holdback_pct": Decimal(10),
            "sf_ratio": None if sf_ratio is None else Decimal(sf_ratio), "sf_min": pd.NA,
            "sf_max": pd.NA, "payment_frequency": "monthly", "terms_days": 30,
            "source": "test"}


DE_TEMPLATE = [fee("STARTUP", "5000.00"), fee("IRB", "1000.00"),
               fee("1", "100.00", "visit"), fee("2", "200.00", "visit"),
               fee("3", "300.00", "visit"), fee("SF", "50.00", "screen_failure"),
               fee("UNSCHEDULED", "90.00", "invoiceable"),
               fee("3", "400.00", "visit", since="2027-03-01")]  # not in force at the cut


def planned(days: tuple[int | None, ...] = (-14, 1, 85)) -> pd.DataFrame:
    rows = [{"study_id": "S1", "visit_num": float(n), "visit_name": f"V{n}",
             "planned_day": day, "scheduled": True} for n, day in enumerate(days, start=1)]
    rows.append({"study_id": "S1", "visit_num": 99.0, "visit_name": "UNSCHEDULED",
                 "planned_day": None, "scheduled": False})
    return PLANNED_VISITS.conform(pd.DataFrame(rows))


def book(fees: list[dict], terms_rows: list[dict], sf_rate: float | None = 0.2,
         dropout: float | None = None, days: tuple[int | None, ...] = (-14, 1, 85)
         ) -> ContractBook:
    study = pd.Series({"study_id": "S1", "planned_sf_rate": sf_rate, "dropout_rate": dropout})
    return ContractBook(study, planned(days),
                        FEES.conform(pd.DataFrame(fees, columns=FEES.names)),
                        TERMS.conform(pd.DataFrame(terms_rows, columns=TERMS.names)), CUT)


def costs(sites: list[tuple[str, str]], contract: ContractBook | None,
          currency: str = "EUR") -> pd.DataFrame:
    frame = pd.DataFrame(sites, columns=["site_id", "country"])
    return candidate_costs(frame, currency, NO_STAFF, FX, contract).set_index("site_id")


def default_of(country: str, column: str, currency: str = "EUR") -> Decimal:
    row = load_cost_defaults().set_index("country").loc[country]
    return FX.convert(row[column], str(row["currency"]), currency)


def test_hand_worked_contract_and_default_costs() -> None:
    out = costs([("N1", "DE"), ("N2", "GB")], book(DE_TEMPLATE, [terms("20")]))
    de, gb = out.loc["N1"], out.loc["N2"]
    assert de["cost_source"] == "contract" and de["contract_currency"] == "EUR"
    assert de["startup_fee"] == Decimal("7200.00")
    assert de["per_patient_cost"] == Decimal("735.00")
    assert isinstance(de["startup_fee"], Decimal) and isinstance(de["per_patient_cost"], Decimal)
    # contracts have no monthly fee; monitoring = the DE default hours × its default rate
    # (no staff)
    hours = load_cost_defaults().set_index("country").loc["DE", "cra_hours_per_month"]
    assert de["monthly_cost"] == default_of("DE", "monthly_site_cost")
    assert de["monitoring_cost"] == hours * default_of("DE", "cra_cost_rate")
    assert de["cra_rate_source"] == "default"
    assert gb["cost_source"] == "default" and pd.isna(gb["contract_currency"])
    for column in ("startup_fee", "per_patient_cost"):
        assert gb[column] == default_of("GB", column)  # converted from GBP


def test_no_contracts_means_defaults_everywhere() -> None:
    out = costs([("N1", "DE")], None)
    assert out.loc["N1", "cost_source"] == "default"
    assert out.loc["N1", "startup_fee"] == default_of("DE", "startup_fee")
    assert out.loc["N1", "per_patient_cost"] == default_of("DE", "per_patient_cost")
    for rows in ([], [terms("20", country="FR")]):  # DE fees without DE terms: no contract
        no_terms = costs([("N1", "DE")], book(DE_TEMPLATE, rows))
        assert no_terms.loc["N1", "cost_source"] == "default"


def test_dropout_shares_ratio_cap_and_rounding_per_item() -> None:
    """Dropout 10 % spread over days 1..85: visit 3 (day 85, the last) is attended by 0.9
    of the randomized. sf_ratio 0.1 caps the 0.25 expected screen failures. Overhead
    15 % on a PHARMACY fee of 0.10 is 0.115, rounded half up once to 0.12.

    * start-up = 5,750.00 + 1,150.00 + 0.12 = 6,900.12
    * per patient = 115.00 + 230.00 + 345.00 × 0.9 + 57.50 × 0.1 = 345.00 + 310.50 + 5.75
      = 661.25
    """
    contract = book([*DE_TEMPLATE, fee("PHARMACY", "0.10")], [terms("15", sf_ratio="0.1")],
                    dropout=0.1)
    out = costs([("N1", "DE")], contract)
    assert out.loc["N1", "startup_fee"] == Decimal("6900.12")
    assert out.loc["N1", "per_patient_cost"] == Decimal("661.25")


def test_visit_shares_spread_dropout_after_randomization() -> None:
    """Days -14, 1, 43, 85 and one without a day, dropout 0.1: 1, 1, 1 − 0.1 × 42/84 =
    0.95, 0.9, and 1 (no day: counted in full)."""
    shares = visit_shares(planned((-14, 1, 43, 85, None)), "S1", Decimal("0.1"))
    assert list(shares["item_code"]) == ["1", "2", "3", "4", "5"]
    assert list(shares["share"]) == [1, 1, Decimal("0.95"), Decimal("0.9"), 1]
    assert list(visit_shares(planned(), "S1", None)["share"]) == [1, 1, 1]


def test_screen_failures_per_randomized() -> None:
    assert screen_failures_per_randomized(Decimal("0.2"), None) == Decimal("0.25")
    assert screen_failures_per_randomized(Decimal("0.2"), Decimal("0.1")) == Decimal("0.1")
    assert screen_failures_per_randomized(None, Decimal("0.25")) == 0
    assert screen_failures_per_randomized(Decimal(1), Decimal("0.25")) == Decimal("0.25")
    with pytest.raises(ForecastInputError, match="leaves no subject randomized"):
        screen_failures_per_randomized(Decimal(1), None)


def test_site_overrides_and_own_contracts() -> None:
    """Site D1 has its own visit-2 fee (250.00) and its own terms (no overhead); site F1
    has its own fees and terms in FR, where there is no template; F2 in FR has none.

    * D1: start-up 5,000 + 1,000 = 6,000.00; per patient 100 + 250 + 300 + 50 × 0.25
      = 662.50
    * F1: start-up 2,000 × 1.2 = 2,400.00; per patient 80 × 1.2 = 96.00 (no SF fee)
    """
    fees = [*DE_TEMPLATE, fee("2", "250.00", "visit", site="D1"),
            fee("STARTUP", "2000.00", country="FR", site="F1"),
            fee("1", "80.00", "visit", country="FR", site="F1")]
    rows = [terms("20"), terms("0", site="D1"), terms("20", country="FR", site="F1")]
    out = costs([("D1", "DE"), ("D2", "DE"), ("F1", "FR"), ("F2", "FR")], book(fees, rows))
    assert out.loc["D1", ["startup_fee", "per_patient_cost"]].tolist() == [
        Decimal("6000.00"), Decimal("662.50")]
    assert out.loc["D2", ["startup_fee", "per_patient_cost"]].tolist() == [
        Decimal("7200.00"), Decimal("735.00")]
    assert out.loc["F1", ["startup_fee", "per_patient_cost"]].tolist() == [
        Decimal("2400.00"), Decimal("96.00")]
    assert list(out["cost_source"]) == ["contract", "contract", "contract", "default"]


def test_fees_not_yet_in_force_fall_back_to_the_defaults() -> None:
    later = [{**row, "effective_from": pd.Timestamp("2027-02-01")} for row in DE_TEMPLATE]
    out = costs([("N1", "DE")], book(later, [terms("20")]))
    assert out.loc["N1", "cost_source"] == "default"
    assert out.loc["N1", "startup_fee"] == default_of("DE", "startup_fee")


def test_contract_in_another_currency_is_converted() -> None:
    """The same EUR contract for a USD study: each amount × per_usd[USD]/per_usd[EUR]."""
    out = costs([("N1", "DE")], book(DE_TEMPLATE, [terms("20")]), currency="USD")
    cent = Decimal("0.01")
    assert out.loc["N1", "startup_fee"].quantize(cent) == (
        Decimal("7200.00") / FX.per_usd["EUR"]).quantize(cent)
    assert out.loc["N1", "per_patient_cost"].quantize(cent) == (
        Decimal("735.00") / FX.per_usd["EUR"]).quantize(cent)
    assert out.loc["N1", "contract_currency"] == "EUR"


# --- the demo store: every study has fees and terms per country -------------------------

CANDIDATES = "site_id,country,earliest_month\nN01,DE,2027-01\nN02,GB,2027-01\n"


@pytest.fixture(scope="module")
def demo_url(demo_template: Path, tmp_path_factory: pytest.TempPathFactory) -> str:
    return copy_store(demo_template, tmp_path_factory.mktemp("activation-contracts"))


def by_hand(fees: pd.DataFrame, terms_: pd.DataFrame, portfolio: object, study_id: str,
            country: str, cut: dt.date) -> tuple[Decimal, Decimal]:
    """A country template's start-up and per-patient costs, recomputed with plain loops:
    the latest row of each item dated on or before the cut, plus overhead rounded once."""
    template = fees[fees["site_id"].isna() & (fees["country"] == country)
                    & (fees["effective_from"] <= pd.Timestamp(cut))]
    row = terms_[terms_["site_id"].isna() & (terms_["country"] == country)].iloc[0]
    cent = Decimal("0.01")

    def gross(item_type: str, code: str) -> Decimal:
        rows = template[(template["item_type"] == item_type) & (template["item_code"] == code)]
        if rows.empty:
            return Decimal(0)
        amount = Decimal(int(rows.sort_values("effective_from")["amount_minor"].iloc[-1]))
        return (amount / 100 * (1 + row["overhead_pct"] / 100)).quantize(cent, "ROUND_HALF_UP")

    study = portfolio.studies.iloc[0]
    startup = sum((gross("one_time", c) for c in
                   ("STARTUP", "IRB", "PHARMACY", "CLOSEOUT", "ARCHIVING")), Decimal(0))
    visits = portfolio.planned_visits
    visits = visits[(visits["study_id"] == study_id) & visits["scheduled"]]
    dropout = Decimal(str(study["dropout_rate"]))
    last = int(visits["planned_day"].max())
    per_patient = Decimal(0)
    for number, day in zip(visits["visit_num"], visits["planned_day"], strict=True):
        share = 1 - dropout * (int(day) - 1) / (last - 1) if day > 1 else Decimal(1)
        per_patient += gross("visit", f"{number:g}") * share
    rate = Decimal(str(study["planned_sf_rate"]))
    paid = min(rate / (1 - rate), row["sf_ratio"])
    return startup, per_patient + gross("screen_failure", "SF") * paid


def test_demo_candidates_priced_by_contract_or_default(demo_url: str, tmp_path: Path) -> None:
    """KST-IMM-202 (EUR) has a DE template and no GB one: N01 is priced by the DE
    contract (recomputed here from the stored fees), N02 by the GB defaults; the CLI
    shows each plan row's cost_source and counts the candidates by source."""
    study = "KST-IMM-202"
    csv = tmp_path / "candidates.csv"
    csv.write_text(CANDIDATES)
    with Session(create_engine(demo_url)) as session:
        portfolio = load_portfolio(session, study)
        fees, terms_ = load_fees(session, study), load_terms(session, study)
    problem, history = activation_problem(portfolio, study, dt.date(2028, 12, 31), 0.5, csv,
                                          fees=fees, terms=terms_)
    candidates = problem.candidates.set_index("site_id")
    startup, per_patient = by_hand(fees, terms_, portfolio, study, "DE", history.cut)
    assert candidates.loc["N01", "cost_source"] == "contract"
    assert candidates.loc["N01", "startup_fee"] == startup
    assert candidates.loc["N01", "per_patient_cost"] == per_patient
    assert candidates.loc["N02", "cost_source"] == "default"
    assert candidates.loc["N02", "startup_fee"] == default_of("GB", "startup_fee")
    # every store candidate's country has a template in the demo
    assert (candidates.drop(index=["N01", "N02"])["cost_source"] == "contract").all()

    result = trialplan(demo_url, "activation", study, "--target-date", "2028-12-31",
                       "--probability", "0.5", "--candidates", str(csv), "--json")
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)
    assert doc["cost_sources"] == {"contract": len(candidates) - 1, "default": 1}
    assert doc["plan"]
    for row in doc["plan"]:
        source = candidates.loc[row["site_id"], "cost_source"]
        assert row["cost_source"] == source
        fee_ = candidates.loc[row["site_id"], "startup_fee"]
        assert Decimal(row["startup"]) == fee_.quantize(Decimal("0.01"), "ROUND_HALF_UP")
    text = trialplan(demo_url, "activation", study, "--target-date", "2028-12-31",
                     "--probability", "0.5", "--candidates", str(csv))
    assert text.exit_code == 0 and "(contract)" in text.stdout
    assert "start-up and per-patient costs from: site contract" in text.stdout
