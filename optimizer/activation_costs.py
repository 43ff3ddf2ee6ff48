"""What activating a site costs, from its site contract or per-country defaults, in the
study's currency (docs/ACTIVATION.md, "Costs and currency").

**Contract costs.** A candidate whose study has a contract for it — terms and fees,
its own or its country's template (a blank site_id), with at least one fee in force
at the plan's data cut (:func:`contracts.fee_grid.fee_in_force`) — costs what that
contract pays, each item plus overhead as the site would invoice it
(``round_half_up(fee × (1 + overhead_pct/100))`` in minor units, docs/SITE_PAYMENTS.md):

* start-up = Σ of the one-time fees STARTUP, IRB, PHARMACY (paid at activation) and
  CLOSEOUT, ARCHIVING (paid at close-out: a site opened will cost them too);
* per patient = Σ over the study's scheduled visits (``planned_visits.scheduled``) of
  the visit fee × the share of randomized subjects expected at that visit, plus the
  screen-failure fee × the screen failures paid per randomized subject.

Our choices: the share at a visit spreads the study's dropout rate δ evenly over
the schedule after randomization — visits up to study day 1 (screening, baseline)
are attended by everyone, the last scheduled visit by 1 − δ, a visit on day d by
1 − δ·(d − 1)/(d_last − 1); a visit without a planned day counts in full. The
screen failures paid per randomized are f/(1 − f), f the study's planned
screen-failure rate, capped by the terms' sf_ratio when set; sf_min and sf_max
count per site, not per patient, and are left out. An item the contract does not
price at the cut costs nothing.

**Default costs** (``optimizer/data/activation_costs.csv``): per country its
currency, start-up fee, monthly site cost, per-patient cost, CRA monitoring hours
per active month and a default CRA cost rate; the row ``*`` serves every country
not listed. A candidate without a contract takes its country's start-up and
per-patient costs from there. Contracts have no monthly fee, so the monthly site
cost is always the default; monitoring costs hours × the mean cost rate of the
CRAs based in the site's country (the store's staff), or the default rate. Each
candidate's ``cost_source`` says where its start-up and per-patient costs came from
(``contract`` or ``default``).

Amounts in other currencies are converted with the planner's dated table
(:mod:`planner.fx`, ``planner/data/fx_rates.csv``: units of each currency per US
dollar; the latest rates on or before the plan's data cut, else the earliest),
so ``x`` in A is ``x · per_usd[B] / per_usd[A]`` in B. The table ships
illustrative reference rates: replace it with your treasury's rates. Costs stay
exact ``Decimal`` (unrounded planning figures); the plan rounds each line once.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from decimal import Decimal
from functools import cache
from pathlib import Path

import numpy as np
import pandas as pd

from contracts.fee_grid import fee_in_force
from contracts.minor import from_minor
from contracts.pricing import scale_by_percent
from contracts.site_contracts import site_contracts
from planner.domain import visit_code
from planner.frames import VISITS, empty_frame
from planner.fx import FX_FILE, FxRates, load_fx_table
from planner.payment_tables import ONE_TIME_CODES, SCREEN_FAILURE_CODE, ItemType
from planner.recruitment.history import ForecastInputError

DATA = Path(__file__).resolve().parent / "data"
COSTS_FILE = DATA / "activation_costs.csv"
MONEY_COLUMNS = ("startup_fee", "monthly_site_cost", "per_patient_cost", "cra_cost_rate")
CONTRACT, DEFAULT = "contract", "default"  # cost_source of a candidate's costs
COST_COLUMNS = ["site_id", "country", "startup_fee", "monthly_cost", "monitoring_cost",
                "per_patient_cost", "cost_source", "cra_rate_source", "contract_currency"]


@cache
def _read(path: Path, keep_blank: bool) -> pd.DataFrame:
    """A shipped table as text, read once per process (callers copy before changing it)."""
    return pd.read_csv(path, dtype=str, keep_default_na=not keep_blank)


def load_fx(on: dt.date, path: Path = FX_FILE) -> FxRates:
    """The table's latest rates on or before ``on`` (else its earliest). A missing rate
    raises :class:`planner.fx.FxError` (the command line's exit 2)."""
    table = load_fx_table(path)
    dates = table.dates
    if not dates:
        return table.earliest()  # refused: the table holds no rate
    return table.rates_on(max(on, dates[0]))  # before the first date: the earliest rates


def load_cost_defaults(path: Path = COSTS_FILE) -> pd.DataFrame:
    """The per-country default costs, amounts as Decimal in each row's currency."""
    table = _read(path, True).copy()
    for column in MONEY_COLUMNS:
        table[column] = table[column].map(Decimal)
    table["cra_hours_per_month"] = table["cra_hours_per_month"].map(Decimal)
    return table


def site_costs(countries: list[str], currency: str, staff: pd.DataFrame, fx: FxRates,
               defaults: pd.DataFrame | None = None) -> pd.DataFrame:
    """The defaults per country: country, startup_fee, monthly_cost, monitoring_cost (per
    active month), per_patient_cost (Decimal, in ``currency``) and cra_rate_source (staff
    or default)."""
    defaults = load_cost_defaults() if defaults is None else defaults
    by_country = defaults.set_index("country")
    cras = staff[staff["role"] == "CRA"]
    rows = []
    for country in sorted(set(countries)):
        row = by_country.loc[country if country in by_country.index else "*"]
        source = str(row["currency"])

        def local(column: str, row: pd.Series = row, source: str = source) -> Decimal:
            return fx.convert(row[column], source, currency)

        mine = cras[cras["home_country"] == country]
        if len(mine):
            rates = [fx.convert(Decimal(str(r)), str(c), currency)
                     for r, c in zip(mine["cost_rate"], mine["currency"], strict=True)]
            rate, rate_source = sum(rates, Decimal(0)) / len(rates), "staff"
        else:
            rate, rate_source = local("cra_cost_rate"), DEFAULT
        rows.append({"country": country, "startup_fee": local("startup_fee"),
                     "monthly_cost": local("monthly_site_cost"),
                     "monitoring_cost": row["cra_hours_per_month"] * rate,
                     "per_patient_cost": local("per_patient_cost"),
                     "cra_rate_source": rate_source})
    return pd.DataFrame(rows, columns=["country", "startup_fee", "monthly_cost",
                                       "monitoring_cost", "per_patient_cost",
                                       "cra_rate_source"])


@dataclass(frozen=True)
class ContractBook:
    """What contract costs are priced from: the study's row (study_id, planned_sf_rate,
    dropout_rate), the portfolio's planned visits, the study's fees and terms
    (``contracts.schemas.FEES``/``TERMS``, :func:`contracts.budgets.load_fees`) and the
    date the fees are taken in force on (the plan's data cut)."""

    study: pd.Series
    planned_visits: pd.DataFrame
    fees: pd.DataFrame
    terms: pd.DataFrame
    on: dt.date


def _fraction(value: object) -> Decimal | None:
    """A rate, ratio or percentage as an exact Decimal (a float through its shortest text);
    None when blank."""
    if value is None or (not isinstance(value, Decimal) and pd.isna(value)):
        return None
    return value if isinstance(value, Decimal) else Decimal(str(value))


def visit_shares(planned_visits: pd.DataFrame, study_id: str,
                 dropout: Decimal | None) -> pd.DataFrame:
    """item_code (VISITNUM text) and share (Decimal) of each scheduled visit of the study:
    the expected attendance per randomized subject. Dropout δ spread evenly over the
    schedule after randomization: 1 up to study day 1, 1 − δ·(d − 1)/(d_last − 1) on a
    later day d (1 − δ at the last scheduled visit), 1 without a planned day."""
    plan = planned_visits[(planned_visits["study_id"].astype(str) == study_id)
                          & planned_visits["scheduled"].astype(bool)].sort_values("visit_num")
    days = pd.to_numeric(plan["planned_day"]).astype("Float64")
    later = days[days.notna() & (days > 1)]
    last = int(later.max()) if len(later) else None
    delta = dropout or Decimal(0)
    rows = []
    for number, day in zip(plan["visit_num"], days, strict=True):
        share = Decimal(1)
        if last is not None and not pd.isna(day) and day > 1:
            share = 1 - delta * Decimal(int(day) - 1) / Decimal(last - 1)
        rows.append((visit_code(float(number)), share))
    return pd.DataFrame(rows, columns=["item_code", "share"]).drop_duplicates("item_code")


def screen_failures_per_randomized(sf_rate: Decimal | None, sf_ratio: Decimal | None) -> Decimal:
    """Screen failures paid per randomized subject: f/(1 − f) expected for a planned
    screen-failure rate f (f screened fail, 1 − f are randomized), at most sf_ratio."""
    rate = sf_rate or Decimal(0)
    if rate >= 1:
        if sf_ratio is None:
            raise ForecastInputError(f"planned screen-failure rate {rate} leaves no subject "
                                     "randomized: contract screen-failure costs need a rate "
                                     "below 1 or an sf_ratio")
        return sf_ratio
    expected = rate / (1 - rate)
    return expected if sf_ratio is None else min(expected, sf_ratio)


def _contract_items(shares: pd.DataFrame) -> pd.DataFrame:
    """item_type, item_code, part (startup or per_patient) and share (None: the site's
    screen failures per randomized) of every item a contract cost sums."""
    # activation (STARTUP, IRB, PHARMACY) and close-out (CLOSEOUT, ARCHIVING) fees
    rows = [(ItemType.ONE_TIME.value, code, "startup", Decimal(1)) for code in ONE_TIME_CODES]
    rows += [(ItemType.VISIT.value, code, "per_patient", share)
             for code, share in zip(shares["item_code"], shares["share"], strict=True)]
    rows.append((ItemType.SCREEN_FAILURE.value, SCREEN_FAILURE_CODE, "per_patient", None))
    return pd.DataFrame(rows, columns=["item_type", "item_code", "part", "share"])


def contract_costs(candidates: pd.DataFrame, book: ContractBook, currency: str,
                   fx: FxRates) -> pd.DataFrame:
    """site_id, startup_fee, per_patient_cost (Decimal, in ``currency``) and
    contract_currency of the candidates (site_id, country) priced by a contract in force
    on ``book.on``; the others are left out (their costs are the defaults)."""
    columns = ["site_id", "startup_fee", "per_patient_cost", "contract_currency"]
    study_id = str(book.study["study_id"])
    if candidates.empty or book.fees.empty or book.terms.empty:
        return pd.DataFrame(columns=columns)
    sites = pd.DataFrame({"study_id": study_id,
                          "site_id": candidates["site_id"].astype(str).to_numpy(),
                          "country": candidates["country"].astype(str).to_numpy(),
                          "status": "identified", "actual_activation": pd.NaT})
    sites["actual_activation"] = sites["actual_activation"].astype("datetime64[s]")
    contracts = site_contracts(sites, book.fees, book.terms, empty_frame(VISITS))
    contracts = contracts[contracts["has_contract"].astype(bool)].set_index("site_id")
    if contracts.empty:
        return pd.DataFrame(columns=columns)
    shares = visit_shares(book.planned_visits, study_id, _fraction(book.study["dropout_rate"]))
    sf_rate = _fraction(book.study["planned_sf_rate"])
    requests = (contracts.reset_index()[["study_id", "site_id", "country"]]
                .merge(_contract_items(shares), how="cross")
                .assign(date=pd.Timestamp(book.on)))
    found = fee_in_force(book.fees, requests)
    priced = requests.assign(fee_minor=found["fee_minor"], currency=found["currency"])
    priced = priced[priced["fee_minor"].notna()].reset_index(drop=True)
    # the site invoices each item plus overhead, rounded once in minor units
    gross = scale_by_percent(priced["fee_minor"].to_numpy(dtype=np.int64),
                             contracts["overhead_pct"].to_numpy(object),
                             contracts.index.get_indexer(priced["site_id"]), plus_one=True)
    totals: dict[str, dict[str, Decimal]] = {}
    for row, amount in zip(priced.itertuples(index=False), gross, strict=True):
        share = row.share if isinstance(row.share, Decimal) else screen_failures_per_randomized(
            sf_rate, _fraction(contracts.at[row.site_id, "sf_ratio"]))
        value = fx.convert(from_minor(int(amount), row.currency) * share, row.currency,
                           currency)
        parts = totals.setdefault(row.site_id, {"startup": Decimal(0),
                                                "per_patient": Decimal(0)})
        parts[row.part] += value
    return pd.DataFrame([(site, parts["startup"], parts["per_patient"],
                          str(contracts.at[site, "currency"]))
                         for site, parts in totals.items()], columns=columns)


def candidate_costs(candidates: pd.DataFrame, currency: str, staff: pd.DataFrame,
                    fx: FxRates, book: ContractBook | None = None,
                    defaults: pd.DataFrame | None = None) -> pd.DataFrame:
    """Each candidate (site_id, country) with startup_fee, monthly_cost, monitoring_cost,
    per_patient_cost (Decimal, in ``currency``), cost_source (contract or default: where
    the start-up and per-patient costs came from), cra_rate_source and
    contract_currency (NA for a default). Without a ``book`` every cost is a default."""
    keys = candidates[["site_id", "country"]].astype(str).reset_index(drop=True)
    costs = keys.merge(site_costs(list(keys["country"]), currency, staff, fx, defaults),
                       on="country", how="left")
    costs["cost_source"] = DEFAULT
    costs["contract_currency"] = pd.NA
    if book is not None:
        priced = contract_costs(keys, book, currency, fx).set_index("site_id")
        mine = costs["site_id"].isin(priced.index)
        for column in ("startup_fee", "per_patient_cost", "contract_currency"):
            costs.loc[mine, column] = costs.loc[mine, "site_id"].map(priced[column])
        costs.loc[mine, "cost_source"] = CONTRACT
    costs["contract_currency"] = costs["contract_currency"].astype("string")
    return costs[COST_COLUMNS]
