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

from planner.domain import Phase
from planner.importing.fields import Field, Kind, duplicate_key_issues, parse_fields
from planner.importing.issues import ImportIssue
from planner.importing.readers import RawTable, read_table, read_xport
from planner.importing.sdtm_derive import (
    activated_sites,
    derive_subjects,
    new_sites,
    schedule_rows,
    screen_failed,
    visit_rows,
    visit_span,
)
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
        target = max(1, int((~screen_failed(domains["DM"].rows, None)).sum()))
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
