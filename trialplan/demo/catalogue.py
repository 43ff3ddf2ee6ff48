"""The fixed shape of the demo portfolio: countries, sponsors and study protocols.

Everything random (site counts per country, dates, rates, subjects) is drawn
from these specs in :mod:`trialplan.demo.sites` and friends; keeping the specs
here makes the portfolio readable at a glance and the draws reproducible.
Study dates are offsets from the data cut so the demo looks current at any
``as_of``.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from planner.domain import Phase

DAYS_PER_MONTH = 30.4375


@dataclass(frozen=True)
class CountryInfo:
    """A country the demo CRO works in: SDTM code, languages, currency, CRA neighbours."""

    alpha3: str
    languages: tuple[str, ...]
    currency: str
    neighbours: tuple[str, ...] = ()


COUNTRIES: dict[str, CountryInfo] = {
    "US": CountryInfo("USA", ("en",), "USD", ("CA",)),
    "CA": CountryInfo("CAN", ("en", "fr"), "CAD", ("US",)),
    "GB": CountryInfo("GBR", ("en",), "GBP"),
    "DE": CountryInfo("DEU", ("de",), "EUR", ("NL", "BE", "FR", "PL", "CZ")),
    "FR": CountryInfo("FRA", ("fr",), "EUR", ("BE", "DE", "ES", "IT")),
    "ES": CountryInfo("ESP", ("es",), "EUR", ("FR",)),
    "IT": CountryInfo("ITA", ("it",), "EUR", ("FR",)),
    "PL": CountryInfo("POL", ("pl",), "PLN", ("DE", "CZ")),
    "NL": CountryInfo("NLD", ("nl",), "EUR", ("BE", "DE")),
    "BE": CountryInfo("BEL", ("nl", "fr"), "EUR", ("NL", "FR", "DE")),
    "CZ": CountryInfo("CZE", ("cs",), "CZK", ("DE", "PL")),
    "HU": CountryInfo("HUN", ("hu",), "HUF"),
    "JP": CountryInfo("JPN", ("ja",), "JPY"),
    "KR": CountryInfo("KOR", ("ko",), "KRW"),
    "AU": CountryInfo("AUS", ("en",), "AUD"),
    "BR": CountryInfo("BRA", ("pt",), "BRL"),
}
# Countries whose sites the neighbours' CRAs cover (no CRA of their own needed).
COVERED_FROM_ABROAD = frozenset({"BE", "CA"})


def can_monitor(home: str, languages: list[str] | tuple[str, ...], site_country: str) -> bool:
    """A CRA monitors sites at home, or in a neighbouring country whose language they speak."""
    if home == site_country:
        return True
    info = COUNTRIES.get(home)
    site = COUNTRIES.get(site_country)
    if info is None or site is None or site_country not in info.neighbours:
        return False
    return bool(set(languages) & set(site.languages))


@dataclass(frozen=True)
class StudySpec:
    """One protocol of the demo portfolio and the assumptions its history is drawn from.

    ``countries`` holds the number of sites per country; ``rate_mean`` is
    the mean randomized per site-month of the Poisson-Gamma model (shape
    ``rate_shape``); ``signed_months_ago`` places the contract before the
    data cut; sites are selected over ``selection_months`` after the
    protocol is final. ``rescue`` sites (per country) are only identified:
    a study behind plan adds them, to be selected in the coming months.
    """

    study_id: str
    sponsor: str
    title: str
    phase: Phase
    therapeutic_area: str
    target_randomized: int
    currency: str
    treatment_weeks: int
    followup_weeks: int
    sf_rate: float
    dropout_rate: float
    visit_every_weeks: int
    countries: dict[str, int]
    signed_months_ago: float
    selection_months: float
    planned_enrollment_months: float
    rate_mean: float
    rate_shape: float = 1.5
    rescue: dict[str, int] = field(default_factory=dict)
    arms: tuple[tuple[str, str], ...] = (("ACT", "Active"), ("PBO", "Placebo"))

    @property
    def n_sites(self) -> int:
        return sum(self.countries.values()) + sum(self.rescue.values())


STUDIES: tuple[StudySpec, ...] = (
    StudySpec(
        "AUR-ONC-301", "Aurora Oncology",
        "Phase III trial of AUR-117 plus chemotherapy in first-line NSCLC",
        Phase.III, "oncology", 420, "EUR", 48, 12, 0.35, 0.15, 4,
        {"US": 14, "DE": 9, "FR": 8, "ES": 8, "IT": 7, "PL": 6, "GB": 5, "BE": 3, "NL": 2,
         "CZ": 1, "HU": 1},
        signed_months_ago=30, selection_months=8, planned_enrollment_months=18,
        rate_mean=0.40,
        arms=(("AUR", "AUR-117 + chemotherapy"), ("PBO", "Placebo + chemotherapy"))),
    StudySpec(
        "HLX-CV-302", "Helix Therapeutics",
        "Phase III outcomes trial of HX-220 in heart failure with preserved ejection fraction",
        Phase.III, "cardiology", 600, "USD", 52, 4, 0.25, 0.10, 8,
        {"US": 18, "CA": 4, "GB": 6, "DE": 10, "PL": 9, "CZ": 5, "HU": 5, "NL": 4, "BE": 3,
         "BR": 6},
        signed_months_ago=20, selection_months=7, planned_enrollment_months=18,
        rate_mean=0.45, rescue={"US": 3, "PL": 2},
        arms=(("HX220", "HX-220 10 mg"), ("PBO", "Placebo"))),
    StudySpec(
        "NRV-NEU-201", "Neurova Bio",
        "Phase II dose-ranging study of NV-301 in early Alzheimer's disease",
        Phase.II, "neurology", 180, "EUR", 26, 4, 0.45, 0.12, 4,
        {"DE": 7, "FR": 6, "ES": 5, "IT": 5, "NL": 3, "GB": 4},
        signed_months_ago=26, selection_months=6, planned_enrollment_months=16,
        rate_mean=0.35, rescue={"ES": 2, "IT": 1},
        arms=(("NV10", "NV-301 10 mg"), ("NV30", "NV-301 30 mg"), ("PBO", "Placebo"))),
    StudySpec(
        "MRD-VAC-303", "Meridian Vaccines",
        "Phase III efficacy trial of an RSV prefusion F vaccine in adults 60 and over",
        Phase.III, "vaccines / infectious disease", 900, "USD", 24, 0, 0.10, 0.05, 8,
        {"US": 16, "CA": 4, "JP": 8, "KR": 6, "AU": 6, "BR": 6, "GB": 4},
        signed_months_ago=22, selection_months=4, planned_enrollment_months=10,
        rate_mean=2.2, arms=(("VAC", "RSVpreF 120 ug"), ("PBO", "Placebo"))),
    StudySpec(
        "HLX-MET-101", "Helix Therapeutics",
        "Phase I multiple ascending dose study of HX-410 in adults with obesity",
        Phase.I, "metabolic", 48, "USD", 4, 4, 0.40, 0.04, 4,
        {"US": 4, "AU": 2, "GB": 2},
        signed_months_ago=24, selection_months=2, planned_enrollment_months=6,
        rate_mean=1.2, arms=(("HX410", "HX-410"), ("PBO", "Placebo"))),
    StudySpec(
        "KST-IMM-202", "Kestrel Pharma",
        "Phase II study of KP-88 in moderate-to-severe atopic dermatitis",
        Phase.II, "immunology", 240, "EUR", 16, 4, 0.30, 0.10, 4,
        {"JP": 6, "KR": 4, "DE": 5, "PL": 5, "ES": 4, "IT": 3, "US": 3},
        signed_months_ago=12, selection_months=5, planned_enrollment_months=12,
        rate_mean=0.6, arms=(("KP88", "KP-88 200 mg"), ("PBO", "Placebo"))),
)
