"""Domain vocabularies shared by the store, the importers and the frames."""

from __future__ import annotations

from enum import StrEnum


class SiteStatus(StrEnum):
    """Life cycle of an investigator site (DESIGN §3)."""

    IDENTIFIED = "identified"
    SELECTED = "selected"
    ACTIVATED = "activated"
    ENROLLING = "enrolling"
    CLOSED = "closed"


class MilestoneKind(StrEnum):
    """Study milestones, in the order a study reaches them."""

    CONTRACT_SIGNED = "contract_signed"
    PROTOCOL_FINAL = "protocol_final"
    FIRST_SITE_ACTIVATED = "first_site_activated"
    FPI = "fpi"
    ENROLLED_25 = "enrolled_25"
    ENROLLED_50 = "enrolled_50"
    ENROLLED_75 = "enrolled_75"
    LPI = "lpi"
    LPLV = "lplv"
    DBL = "dbl"
    TOPLINE = "topline"
    CSR_FINAL = "csr_final"


class Role(StrEnum):
    """Staff roles that carry workload."""

    CRA = "CRA"
    PM = "PM"
    CTA = "CTA"
    DATA_MANAGER = "DM"
    BIOSTATISTICIAN = "BIOSTAT"
    MEDICAL_WRITER = "MW"


class AppRole(StrEnum):
    """What a user of the web app may see and do (docs/DASHBOARDS.md)."""

    PM = "pm"  # every page; applies CRA rebalancing proposals
    FINANCE = "finance"  # portfolio, budget, recruitment, payments; approves payment runs
    VIEWER = "viewer"  # portfolio, budget, recruitment: read only


class Phase(StrEnum):
    """Clinical development phase of a study."""

    I = "I"  # noqa: E741 - the phase is called I
    I_II = "I/II"
    II = "II"
    II_III = "II/III"
    III = "III"
    IV = "IV"


class AuditAction(StrEnum):
    INSERT = "insert"
    UPDATE = "update"
    DELETE = "delete"


def visit_code(visit_num: float) -> str:
    """A VISITNUM as the canonical text fee grids key visits by: 1.0 → "1", 3.5 → "3.5"."""
    return f"{visit_num:.6f}".rstrip("0").rstrip(".")
