"""Deriving the plan of record from SDTM domains: pure functions on typed frames.

The rules are those listed in :mod:`planner.importing.sdtm`; nothing here
touches the store.
"""

from __future__ import annotations

import re

import pandas as pd

from planner.countries import country_code
from planner.domain import SiteStatus
from planner.importing.issues import ImportIssue
from planner.importing.readers import RawTable
from planner.importing.writes import SOURCE

CONDITIONAL = re.compile(r"^\s*(if|when)\b", re.IGNORECASE)
DISPOSITION_TERMS = frozenset({  # CDISC NCOMPLT (completion/reason for non-completion)
    "COMPLETED", "ADVERSE EVENT", "DEATH", "LACK OF EFFICACY", "LOST TO FOLLOW-UP",
    "NON-COMPLIANCE WITH STUDY DRUG", "OTHER", "PHYSICIAN DECISION", "PREGNANCY",
    "PROGRESSIVE DISEASE", "PROTOCOL DEVIATION", "PROTOCOL VIOLATION", "RECOVERY",
    "SCREEN FAILURE", "SITE TERMINATED BY SPONSOR", "STUDY TERMINATED BY SPONSOR",
    "TECHNICAL PROBLEMS", "WITHDRAWAL BY PARENT/GUARDIAN", "WITHDRAWAL BY SUBJECT"})

def screen_failed(dm: pd.DataFrame, ds: pd.DataFrame | None) -> pd.Series:
    armcd = dm["ARMCD"].fillna("").str.upper()
    arm = dm["ARM"].fillna("").str.upper()
    failed = armcd.eq("SCRNFAIL") | arm.eq("SCREEN FAILURE")
    if ds is not None:
        failed |= dm["USUBJID"].isin(ds.loc[ds["DSDECOD"].str.upper() == "SCREEN FAILURE",
                                            "USUBJID"])
    return failed


def _first_date(ds: pd.DataFrame | None, decod: str) -> pd.Series:
    if ds is None:
        return pd.Series(dtype="datetime64[s]")
    rows = ds[ds["DSDECOD"].str.upper() == decod]
    return rows.groupby("USUBJID")["DSSTDTC"].min()


def visit_span(sv: pd.DataFrame) -> pd.DataFrame:
    """First and last visit date per subject (index USUBJID, columns min, max)."""
    return sv.groupby("USUBJID")["SVSTDTC"].agg(["min", "max"])


def disposition_events(ds: pd.DataFrame) -> pd.DataFrame:
    """DS disposition events other than screen failure; without DSCAT, the events whose
    DSDECOD is a CDISC disposition term (NCOMPLT codelist)."""
    decod = ds["DSDECOD"].str.upper()
    if ds["DSCAT"].notna().any():
        is_event = ds["DSCAT"].fillna("").str.upper() == "DISPOSITION EVENT"
    else:
        is_event = decod.isin(DISPOSITION_TERMS)
    return ds[is_event & (decod != "SCREEN FAILURE")]


def derive_subjects(dm: pd.DataFrame, ds: pd.DataFrame | None,
                    visit_dates: pd.DataFrame) -> pd.DataFrame:
    """One row per DM subject with its screening, randomization and disposition dates.

    ``visit_dates`` is :func:`visit_span` of the SV being imported, or of the
    visits already stored when SV is not part of the import.
    """
    subjects = dm.set_index("USUBJID", drop=False)
    ids = subjects.index
    evidence = pd.concat([_first_date(ds, "INFORMED CONSENT OBTAINED").reindex(ids),
                          subjects["DMDTC"], visit_dates["min"].reindex(ids)], axis=1)
    screened = subjects["RFICDTC"].fillna(evidence.min(axis=1)).astype("datetime64[s]")
    failed = screen_failed(subjects.reset_index(drop=True), ds).to_numpy()
    failed_date = (_first_date(ds, "SCREEN FAILURE").reindex(ids)
                   .fillna(visit_dates["max"].reindex(ids)).fillna(screened))
    randomized = _first_date(ds, "RANDOMIZED").reindex(ids).fillna(subjects["RFSTDTC"])
    out = pd.DataFrame({
        "subject_id": ids, "site_id": subjects["SITEID"].to_numpy(),
        "arm": subjects["ARM"].to_numpy(), "screened_date": screened.to_numpy(),
        "randomized_date": randomized.where(~failed).to_numpy(),
        "screen_failed_date": failed_date.where(failed).to_numpy(),
        "discontinued_date": pd.NaT, "completed_date": pd.NaT, "disposition": None,
        SOURCE: subjects[SOURCE].to_numpy()})
    if ds is not None:
        events = disposition_events(ds)  # undated events sort first: a dated one is final
        last = events.sort_values(["USUBJID", "DSSTDTC"], na_position="first")
        last = last.groupby("USUBJID").tail(1)
        last = last.set_index("USUBJID").reindex(ids)
        completed = last["DSDECOD"].str.upper() == "COMPLETED"
        out["disposition"] = last["DSDECOD"].to_numpy()
        out["completed_date"] = last["DSSTDTC"].where(completed).to_numpy()
        out["discontinued_date"] = last["DSSTDTC"].where(~completed.fillna(False)
                                                         & last["DSDECOD"].notna()).to_numpy()
    out["disposition"] = out["disposition"].astype(object).where(out["disposition"].notna(),
                                                                 None)
    return out


def new_sites(subjects: pd.DataFrame, dm: pd.DataFrame, known: set[str],
              raw: RawTable) -> tuple[pd.DataFrame, list[ImportIssue]]:
    """Sites named by SITEID that the store lacks, with country and first screening."""
    fresh = subjects[~subjects["site_id"].isin(known)]
    if fresh.empty:
        return fresh, []
    countries = dm.set_index("USUBJID")["COUNTRY"].reindex(fresh["subject_id"])
    fresh = fresh.assign(country_code=countries.map(
        lambda c: country_code(c) if isinstance(c, str) else None).to_numpy(),
        country_text=countries.fillna("").to_numpy())
    unknown = fresh[fresh["country_code"].isna()].drop_duplicates("site_id")
    issues = [ImportIssue(raw.source, int(source.rsplit(" ", 1)[1]), "COUNTRY", text,
                          f"an ISO 3166 country for new site {site} (sites not in the store "
                          "are created from DM)")
              for site, text, source in zip(unknown["site_id"], unknown["country_text"],
                                            unknown[SOURCE], strict=True)][:100]
    sites = fresh.groupby("site_id", as_index=False).agg(
        country_code=("country_code", "first"), actual_activation=("screened_date", "min"),
        randomized=("randomized_date", "count"), source=(SOURCE, "first"))
    sites["status"] = sites["randomized"].gt(0).map(
        {True: SiteStatus.ENROLLING.value, False: SiteStatus.ACTIVATED.value})
    sites = sites.rename(columns={"source": SOURCE}).assign(
        investigator=None, planned_activation=pd.NaT, target_randomized=pd.NA)
    return sites, issues


def activated_sites(subjects: pd.DataFrame, stored: pd.DataFrame) -> pd.DataFrame:
    """Stored sites without an activation date whose subjects prove they are active."""
    first = subjects.groupby("site_id").agg(first_screened=("screened_date", "min"),
                                            randomized=("randomized_date", "count"),
                                            source=(SOURCE, "first"))
    sites = stored[stored["actual_activation"].isna()].join(first, on="site_id", how="inner")
    sites = sites[sites["first_screened"].notna()]
    start_up = sites["status"].isin([SiteStatus.IDENTIFIED.value, SiteStatus.SELECTED.value])
    active = sites["randomized"].gt(0).map({True: SiteStatus.ENROLLING.value,
                                            False: SiteStatus.ACTIVATED.value})
    return sites.assign(actual_activation=sites["first_screened"],
                        status=active.where(start_up, sites["status"])
                        ).rename(columns={"source": SOURCE})


def visit_rows(sv: pd.DataFrame) -> pd.DataFrame:
    """SV rows keyed by subject, VISITNUM and the repeat number of that VISITNUM."""
    visits = sv.sort_values(["USUBJID", "VISITNUM", "SVSTDTC"], kind="stable")
    visits = visits.assign(visit_seq=visits.groupby(["USUBJID", "VISITNUM"]).cumcount() + 1)
    return pd.DataFrame({"subject_id": visits["USUBJID"], "visit_num": visits["VISITNUM"],
                         "visit_seq": visits["visit_seq"], "visit_name": visits["VISIT"],
                         "visit_date": visits["SVSTDTC"], "end_date": visits["SVENDTC"],
                         SOURCE: visits[SOURCE]})


def schedule_rows(tv: pd.DataFrame) -> pd.DataFrame:
    """TV visits, once per VISITNUM (arm-specific rows share it)."""
    planned = tv.drop_duplicates("VISITNUM")
    conditional = planned["TVSTRL"].fillna("").map(lambda t: bool(CONDITIONAL.match(t)))
    return pd.DataFrame({"visit_num": planned["VISITNUM"], "visit_name": planned["VISIT"],
                         "planned_day": planned["VISITDY"].round().astype("Int64"),
                         "scheduled": ~conditional, SOURCE: planned[SOURCE]})
