"""CDISC SDTM subjects and visits: DM, DS, SV, TV (and TS) of one study.

Derivations (documented because finance and forecasting rest on them):

* screened: every DM subject; date = RFICDTC (informed consent), else the
  earliest of DS INFORMED CONSENT OBTAINED, DMDTC and the first SV date;
* screen failure: ARMCD ``SCRNFAIL`` / ARM ``Screen Failure`` or a DS
  ``SCREEN FAILURE`` event; date = that DS date, else the last SV date, else
  the screening date;
* randomized: not a screen failure and a DS ``RANDOMIZED`` date, else RFSTDTC;
* disposition: the latest DS disposition event; ``COMPLETED`` sets the
  completion date, any other the discontinuation date;
* visits: SV rows; repeats of one VISITNUM are numbered by date (visit_seq);
* schedule: TV visits; one with a condition in TVSTRL ("If ...", "When ...")
  is unscheduled (event-driven), all others are scheduled;
* a study absent from the store is created from TS (title, TPHASE, PLANSUB,
  SPONSOR, INDIC, LENGTH) and DM; a site absent from the store is created from
  SITEID with DM COUNTRY, activated at its first screening; a stored site with
  no activation date that has screened subjects gets its first screening as
  activation date (and status enrolling/activated if it was still in start-up).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from pathlib import Path

import pandas as pd
from sqlalchemy import func, select

from planner.domain import Phase, SiteStatus
from planner.importing.fields import Field, Kind, duplicate_key_issues, parse_fields
from planner.importing.issues import ImportIssue
from planner.importing.readers import RawTable, read_table, read_xport
from planner.importing.sync import SOURCE, EntitySpec, Writer, existing_rows
from planner.importing.tabular import AREA, ID, NAME, SITE, SPONSOR, STUDY, sources, study_pks
from planner.tables import PlannedVisit, Subject, SubjectVisit

DOMAINS = ("DM", "DS", "SV", "TV", "TS")
DEFAULT_CURRENCY = "USD"  # TS carries none; import a studies file to set another

SUBJECT = EntitySpec(Subject.__table__, ("study_pk", "subject_id"),
                     ("site_pk", "arm", "screened_date", "randomized_date", "screen_failed_date",
                      "discontinued_date", "completed_date", "disposition"),
                     ("study_id", "subject_id"))
VISIT = EntitySpec(SubjectVisit.__table__, ("subject_pk", "visit_num", "visit_seq"),
                   ("visit_name", "visit_date", "end_date"),
                   ("study_id", "subject_id", "visit_num", "visit_seq"))
PLANNED = EntitySpec(PlannedVisit.__table__, ("study_pk", "visit_num"),
                     ("visit_name", "planned_day", "scheduled"), ("study_id", "visit_num"))

_TEXT = dict(blank_ok=True, required=False)
_STUDY, _SUBJECT = Field("STUDYID", max_length=ID), Field("USUBJID", max_length=ID)
FIELDS: dict[str, list[Field]] = {
    "DM": [_STUDY, _SUBJECT, Field("SITEID", max_length=ID),
           Field("ARMCD", **_TEXT), Field("ARM", max_length=NAME, **_TEXT),
           Field("COUNTRY", **_TEXT),
           Field("RFSTDTC", Kind.SDTM_DATE, **_TEXT), Field("RFICDTC", Kind.SDTM_DATE, **_TEXT),
           Field("DMDTC", Kind.SDTM_DATE, **_TEXT)],
    "DS": [_STUDY, _SUBJECT, Field("DSDECOD", max_length=NAME), Field("DSCAT", **_TEXT),
           Field("DSSTDTC", Kind.SDTM_DATE, blank_ok=True)],
    "SV": [_STUDY, _SUBJECT, Field("VISITNUM", Kind.NUMBER),
           Field("VISIT", max_length=NAME, **_TEXT),
           Field("SVSTDTC", Kind.SDTM_DATE, blank_ok=True),
           Field("SVENDTC", Kind.SDTM_DATE, **_TEXT)],
    "TV": [_STUDY, Field("VISITNUM", Kind.NUMBER), Field("VISIT", max_length=NAME),
           Field("VISITDY", Kind.NUMBER, **_TEXT), Field("TVSTRL", **_TEXT)],
    "TS": [_STUDY, Field("TSPARMCD"), Field("TSVAL", blank_ok=True)],
}
CONDITIONAL = re.compile(r"^\s*(if|when)\b", re.IGNORECASE)
DISPOSITION_TERMS = frozenset({  # CDISC NCOMPLT (completion/reason for non-completion)
    "COMPLETED", "ADVERSE EVENT", "DEATH", "LACK OF EFFICACY", "LOST TO FOLLOW-UP",
    "NON-COMPLIANCE WITH STUDY DRUG", "OTHER", "PHYSICIAN DECISION", "PREGNANCY",
    "PROGRESSIVE DISEASE", "PROTOCOL DEVIATION", "PROTOCOL VIOLATION", "RECOVERY",
    "SCREEN FAILURE", "SITE TERMINATED BY SPONSOR", "STUDY TERMINATED BY SPONSOR",
    "TECHNICAL PROBLEMS", "WITHDRAWAL BY PARENT/GUARDIAN", "WITHDRAWAL BY SUBJECT"})
DS_DERIVED = ("discontinued_date", "completed_date", "disposition")


@dataclass(frozen=True)
class Domain:
    name: str
    raw: RawTable
    rows: pd.DataFrame  # typed, with SOURCE


def read_sdtm_file(path: Path) -> RawTable:
    """.xpt via pyreadstat (cp1252); .csv / .xlsx as text."""
    if path.suffix.lower() == ".xpt":
        return read_xport(path) if path.is_file() else read_table(path, "sdtm")
    return read_table(path, path.stem)


def domain_of(raw: RawTable, path_stem: str) -> str | None:
    """The DOMAIN column's value, else the file name (dm.xpt -> DM)."""
    if "DOMAIN" in raw.frame.columns:
        values = raw.frame["DOMAIN"]
        values = values[values != ""]
        if len(values):
            return str(values.iloc[0]).upper()
    stem = path_stem.upper()
    return stem if stem in DOMAINS else None


def type_domain(name: str, raw: RawTable) -> tuple[Domain, list[ImportIssue]]:
    typed, issues = parse_fields(raw, FIELDS[name])
    # DM: one row per subject; SV: the same visit on the same day twice is a copy, not a visit
    key = {"DM": ["USUBJID"], "SV": ["USUBJID", "VISITNUM", "SVSTDTC"]}.get(name)
    if key:
        issues += duplicate_key_issues(raw, typed, key)
    typed[SOURCE] = sources(raw)
    return Domain(name, raw, typed), issues


def _phase(ts: dict[str, str]) -> str | None:
    text = ts.get("TPHASE", "").upper().replace("PHASE", "").replace("TRIAL", "").strip()
    text = text.replace(" ", "").replace("-", "/")
    numerals = {"1": "I", "2": "II", "3": "III", "4": "IV"}
    text = "/".join(numerals.get(part, part) for part in text.split("/"))
    return text if text in {p.value for p in Phase} else None


def _weeks(text: str) -> float | None:
    match = re.match(r"^\s*P?(\d+(?:\.\d+)?)\s*(W|WEEKS?|D|DAYS?|M|MONTHS?)\s*$", text.upper())
    if not match:
        return None
    number, unit = float(match.group(1)), match.group(2)[0]
    return {"W": number, "D": number / 7, "M": number * 52 / 12}[unit]


def ensure_study(writer: Writer, study_id: str, domains: dict[str, Domain]) -> None:
    """Create the study from TS/DM when the store does not have it yet."""
    if study_id in study_pks(writer).index:
        return
    ts_rows = domains["TS"].rows if "TS" in domains else pd.DataFrame(
        columns=["TSPARMCD", "TSVAL"])
    ts = dict(zip(ts_rows["TSPARMCD"], ts_rows["TSVAL"].fillna(""), strict=True))
    first = next(iter(domains.values()))
    source = f"{first.raw.source} (study created from SDTM)"
    sponsor = (ts.get("SPONSOR") or study_id)[:NAME]
    writer.sync(SPONSOR, pd.DataFrame({"name": [sponsor], SOURCE: [source]}))
    sponsor_pk = writer.ids(SPONSOR).set_index("name")["id"][sponsor]
    plan = ts.get("PLANSUB", "")
    target = int(float(plan)) if re.fullmatch(r"\d+(\.0+)?", plan) else None
    if target is None and "DM" in domains:
        target = max(1, int((~_screen_failed(domains["DM"].rows, None)).sum()))
    weeks = _weeks(ts.get("LENGTH", ""))
    if weeks is None and "TV" in domains:
        last_day = domains["TV"].rows["VISITDY"].max()
        weeks = None if pd.isna(last_day) else float(last_day) / 7
    writer.sync(STUDY, pd.DataFrame([{
        "study_id": study_id, "sponsor_pk": sponsor_pk, "title": ts.get("TITLE") or None,
        "phase": _phase(ts),
        "therapeutic_area": (ts.get("INDIC") or ts.get("TDIGRP") or "")[:AREA] or None,
        "target_randomized": target or 1, "planned_sf_rate": None, "dropout_rate": None,
        "treatment_weeks": weeks or 0.0, "followup_weeks": None,
        "currency": DEFAULT_CURRENCY, SOURCE: source}]))


def _screen_failed(dm: pd.DataFrame, ds: pd.DataFrame | None) -> pd.Series:
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
    failed = _screen_failed(subjects.reset_index(drop=True), ds).to_numpy()
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
    from planner.countries import country_code

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


def stored_visit_span(writer: Writer, study_pk: int) -> pd.DataFrame:
    """:func:`visit_span` of the visits already stored for the study."""
    statement = (select(Subject.subject_id, func.min(SubjectVisit.visit_date),
                        func.max(SubjectVisit.visit_date))
                 .join(Subject, SubjectVisit.subject_pk == Subject.id)
                 .where(Subject.study_pk == study_pk).group_by(Subject.subject_id))
    rows = writer.session.execute(statement).all()
    span = pd.DataFrame(rows, columns=["USUBJID", "min", "max"]).set_index("USUBJID")
    for column in ("min", "max"):
        span[column] = pd.to_datetime(span[column]).astype("datetime64[s]")
    return span


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


def _type_domains(tables: list[tuple[RawTable, str]]
                  ) -> tuple[dict[str, Domain], list[ImportIssue], list[str]]:
    domains: dict[str, Domain] = {}
    issues: list[ImportIssue] = []
    notices: list[str] = []
    for raw, stem in tables:
        name = domain_of(raw, stem)
        if name not in DOMAINS:
            notices.append(f"{raw.source}: domain {name or 'unknown'} is not imported "
                           f"(trialplan reads {', '.join(DOMAINS)})")
            continue
        if name in domains:
            issues.append(ImportIssue(raw.source, None, "DOMAIN", name,
                                      f"one file per domain ({domains[name].raw.source} "
                                      "has it already)"))
            continue
        domain, found = type_domain(name, raw)
        domains[name] = domain
        issues += found
    return domains, issues, notices


def _study_issues(domains: dict[str, Domain]) -> list[ImportIssue]:
    seen = {d.raw.source: set(d.rows["STUDYID"].dropna().unique()) for d in domains.values()}
    studies = set().union(*seen.values()) if seen else set()
    if len(studies) > 1:
        return [ImportIssue(source, None, "STUDYID", ", ".join(sorted(ids)),
                            "one study per import (found " + ", ".join(sorted(studies)) + ")")
                for source, ids in seen.items()]
    if not studies:
        return [ImportIssue(", ".join(seen) or "(no files)", None, "STUDYID", None,
                            "a DM, DS, SV, TV or TS file with rows")]
    if "DS" in domains and "DM" not in domains:
        return [ImportIssue(domains["DS"].raw.source, None, None, None,
                            "DM in the same import (DS dispositions are derived with DM)")]
    return []


def _unknown_subjects(domain: Domain, known: set[str]) -> list[ImportIssue]:
    bad = ~domain.rows["USUBJID"].isin(list(known))
    return [ImportIssue(domain.raw.source, int(domain.raw.rows.iloc[i]), "USUBJID",
                        str(domain.rows["USUBJID"].iloc[i]),
                        "a subject in DM or already in the store")
            for i in bad.to_numpy().nonzero()[0][:1000]]


def read_sdtm_files(paths: list[Path]) -> list[tuple[RawTable, str]]:
    """Each file's text cells with its name's stem (the domain when DOMAIN is absent)."""
    return [(read_sdtm_file(path), path.stem) for path in paths]


def import_sdtm(writer: Writer, tables: list[tuple[RawTable, str]]
                ) -> tuple[list[ImportIssue], list[str]]:
    """Import one study's SDTM domains; returns the issues (write nothing if any) and notices.

    ``tables`` pairs each table with a name stem (``dm``) used when it has no
    DOMAIN column.
    """
    domains, issues, notices = _type_domains(tables)
    if issues:
        return issues, notices
    issues = _study_issues(domains)
    if issues:
        return issues, notices
    study_id = next(iter(set().union(*(set(d.rows["STUDYID"].dropna().unique())
                                       for d in domains.values()))))
    rows = {name: d.rows for name, d in domains.items()}
    ensure_study(writer, study_id, domains)
    study_pk = int(study_pks(writer)[study_id])
    stored_subjects = writer.ids(SUBJECT, SUBJECT.table.c.study_pk == study_pk)
    known_subjects = set(stored_subjects["subject_id"]) | set(
        rows["DM"]["USUBJID"] if "DM" in rows else [])
    for name in ("DS", "SV"):
        if name in domains:
            issues += _unknown_subjects(domains[name], known_subjects)
    if issues:
        return issues, notices
    if "DM" in rows:
        span = (visit_span(rows["SV"]) if "SV" in rows
                else stored_visit_span(writer, study_pk))
        subjects = derive_subjects(rows["DM"], rows.get("DS"), span)
        stored_sites = writer.ids(SITE, SITE.table.c.study_pk == study_pk)
        sites, issues = new_sites(subjects, rows["DM"], set(stored_sites["site_id"]),
                                  domains["DM"].raw)
        if issues:
            return issues, notices
        in_study = SITE.table.c.study_pk == study_pk
        sites = pd.concat([sites, activated_sites(subjects, existing_rows(
            writer.session, SITE, in_study))], ignore_index=True)
        if len(sites):
            writer.sync(SITE, sites.assign(study_pk=study_pk, study_id=study_id), in_study)
        site_pks = writer.ids(SITE, SITE.table.c.study_pk == study_pk).set_index("site_id")["id"]
        # without DS in this import the stored dispositions stand
        spec = SUBJECT if "DS" in rows else replace(
            SUBJECT, values=tuple(v for v in SUBJECT.values if v not in DS_DERIVED))
        writer.sync(spec, subjects.assign(study_pk=study_pk, study_id=study_id,
                                          site_pk=subjects["site_id"].map(site_pks)),
                    SUBJECT.table.c.study_pk == study_pk)
    subject_pks = writer.ids(SUBJECT, SUBJECT.table.c.study_pk == study_pk).set_index(
        "subject_id")["id"]
    if "SV" in rows:
        visits = visit_rows(rows["SV"])
        visits["subject_pk"] = visits["subject_id"].map(subject_pks)
        visits["study_id"] = study_id
        in_study = SubjectVisit.subject_pk.in_(
            Subject.__table__.select().with_only_columns(Subject.id)
            .where(Subject.study_pk == study_pk))
        # SV is a full transfer for each subject it mentions: visits it no longer has go
        writer.sync(VISIT, visits, in_study, replace_within="subject_pk")
    if "TV" in rows:
        writer.sync(PLANNED, schedule_rows(rows["TV"]).assign(study_pk=study_pk,
                                                              study_id=study_id),
                    PLANNED.table.c.study_pk == study_pk)
    return [], notices
