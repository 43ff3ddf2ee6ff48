"""ISO 3166 countries and the monthly working hours of a CRA based there."""

from __future__ import annotations

import pycountry
from sqlalchemy import select
from sqlalchemy.orm import Session

from planner.tables import Country

# DESIGN §3: about 165 working hours a month, the US about 178, the EU about 143.
DEFAULT_HOURS_MONTH = 165.0
US_HOURS_MONTH = 178.0
EU_HOURS_MONTH = 143.0
EU_MEMBERS = frozenset({
    "AT", "BE", "BG", "HR", "CY", "CZ", "DK", "EE", "FI", "FR", "DE", "GR", "HU", "IE",
    "IT", "LV", "LT", "LU", "MT", "NL", "PL", "PT", "RO", "SK", "SI", "ES", "SE",
})


def working_hours_month(code: str) -> float:
    if code == "US":
        return US_HOURS_MONTH
    if code in EU_MEMBERS:
        return EU_HOURS_MONTH
    return DEFAULT_HOURS_MONTH


def _index() -> dict[str, str]:
    index: dict[str, str] = {}
    for country in pycountry.countries:
        index[country.alpha_2] = country.alpha_2
        index[country.alpha_3] = country.alpha_2
    return index


_BY_CODE = _index()


def country_code(value: str) -> str | None:
    """The alpha-2 code for an ISO 3166 alpha-2 or alpha-3 code (any case), else None."""
    return _BY_CODE.get(value.strip().upper()) if isinstance(value, str) else None


def ensure_countries(session: Session) -> int:
    """Insert the ISO 3166 countries the store lacks; returns how many were added."""
    present = set(session.scalars(select(Country.code)))
    missing = [
        Country(code=c.alpha_2, alpha3=c.alpha_3, name=c.name,
                working_hours_month=working_hours_month(c.alpha_2))
        for c in pycountry.countries if c.alpha_2 not in present
    ]
    session.add_all(missing)
    return len(missing)
