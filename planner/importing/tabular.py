"""Importers for the tabular kinds: studies, sites, staff, milestones (DESIGN §7).

Each importer types the file's cells, resolves references to the store
(study, CRA), and returns every problem it found before writing anything;
with no problems it writes through the :class:`Writer` (inside the caller's
transaction).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import replace

import numpy as np
import pandas as pd

from planner.domain import MilestoneKind, Phase, Role, SiteStatus
from planner.importing.fields import Field, Kind, duplicate_key_issues, parse_fields
from planner.importing.issues import ImportIssue
from planner.importing.readers import RawTable
from planner.importing.sync import SOURCE, EntitySpec, Writer, existing_rows
from planner.tables import CraAssignment, Milestone, Site, Sponsor, Staff, Study

ID, NAME, AREA = 64, 200, 100  # lengths of the id, name and therapeutic area columns

STUDY_FIELDS = [
    Field("study_id", max_length=ID), Field("sponsor", max_length=NAME),
    Field("phase", Kind.CHOICE, choices=tuple(p.value for p in Phase)),
    Field("therapeutic_area", max_length=AREA),
    Field("target_randomized", Kind.INT, minimum=1),
    Field("currency", Kind.CURRENCY),
    Field("treatment_weeks", Kind.NUMBER, minimum=0),
    Field("title", required=False, blank_ok=True),
    Field("planned_sf_rate", Kind.NUMBER, required=False, blank_ok=True, minimum=0, maximum=1),
    Field("dropout_rate", Kind.NUMBER, required=False, blank_ok=True, minimum=0, maximum=1),
    Field("followup_weeks", Kind.NUMBER, required=False, blank_ok=True, minimum=0),
]
SITE_FIELDS = [
    Field("study_id", max_length=ID), Field("site_id", max_length=ID),
    Field("country", Kind.COUNTRY), Field("investigator", blank_ok=True, max_length=NAME),
    Field("status", Kind.CHOICE, choices=tuple(s.value for s in SiteStatus)),
    Field("planned_activation", Kind.DATE, blank_ok=True),
    Field("actual_activation", Kind.DATE, blank_ok=True),
    Field("target_randomized", Kind.INT, blank_ok=True, minimum=0),
    Field("cra_id", blank_ok=True, max_length=ID),
]
STAFF_FIELDS = [
    Field("staff_id", max_length=ID), Field("name", max_length=NAME),
    Field("role", Kind.CHOICE, choices=tuple(r.value for r in Role)),
    Field("home_country", Kind.COUNTRY), Field("languages", Kind.LIST, blank_ok=True),
    Field("fte", Kind.NUMBER, minimum=0, maximum=1.5),
    Field("capacity_hours_month", Kind.NUMBER, minimum=0, maximum=744),
    Field("cost_rate", Kind.DECIMAL, minimum=0), Field("currency", Kind.CURRENCY),
]
MILESTONE_FIELDS = [
    Field("study_id", max_length=ID),
    Field("milestone", Kind.CHOICE, choices=tuple(m.value for m in MilestoneKind)),
    Field("baseline", Kind.DATE, blank_ok=True), Field("forecast", Kind.DATE, blank_ok=True),
    Field("actual", Kind.DATE, blank_ok=True),
]
NEEDS_ACTIVATION_DATE = {SiteStatus.ACTIVATED.value, SiteStatus.ENROLLING.value}

SPONSOR = EntitySpec(Sponsor.__table__, ("name",), (), ("name",))
STUDY = EntitySpec(Study.__table__, ("study_id",),
                   ("sponsor_pk", "title", "phase", "therapeutic_area", "target_randomized",
                    "planned_sf_rate", "dropout_rate", "treatment_weeks", "followup_weeks",
                    "currency"), ("study_id",))
SITE = EntitySpec(Site.__table__, ("study_pk", "site_id"),
                  ("country_code", "investigator", "status", "planned_activation",
                   "actual_activation", "target_randomized"), ("study_id", "site_id"))
STAFF = EntitySpec(Staff.__table__, ("staff_id",),
                   ("name", "role", "home_country", "languages", "fte",
                    "capacity_hours_month", "cost_rate", "currency"), ("staff_id",))
# an imported forecast date is nobody's forecast run: the file's values replace the run's
MILESTONE = EntitySpec(Milestone.__table__, ("study_pk", "kind"),
                       ("baseline_date", "forecast_date", "actual_date", "forecast_run_pk"),
                       ("study_id", "kind"))
ASSIGNMENT = EntitySpec(CraAssignment.__table__, ("site_pk", "effective_from"),
                        ("staff_pk", "effective_to"), ("study_id", "site_id", "effective_from"))


def sources(raw: RawTable) -> pd.Series:
    """'file, row N' for every row of a raw table: where each record came from."""
    return raw.source + ", row " + raw.rows.astype(str)


def typed_rows(raw: RawTable, fields: list[Field], key: list[str], *,
               blank_is_value: bool = False) -> tuple[pd.DataFrame, list[ImportIssue]]:
    """The typed cells with their source, and the issues: bad cells, repeated keys
    (``blank_is_value`` as in :func:`duplicate_key_issues`)."""
    typed, issues = parse_fields(raw, fields)
    issues += duplicate_key_issues(raw, typed, key, blank_is_value=blank_is_value)
    typed[SOURCE] = sources(raw)
    return typed, issues


def only_given(spec: EntitySpec, raw: RawTable, fields: list[Field]) -> EntitySpec:
    """The spec without the optional columns the file lacks: absent is not blank, so a
    file without ``title`` leaves every stored title as it is."""
    absent = {f.name for f in fields if not f.required and f.name not in raw.frame.columns}
    return replace(spec, values=tuple(v for v in spec.values if v not in absent))


def unknown_reference(raw: RawTable, values: pd.Series, known: pd.Index | set,
                      column: str, expected: str) -> list[ImportIssue]:
    """Issues for cells naming something the store does not have."""
    bad = values.notna() & ~values.isin(list(known))
    return [ImportIssue(raw.source, int(raw.rows.iloc[i]), column, str(values.iloc[i]), expected)
            for i in np.flatnonzero(bad.to_numpy())[:1000]]


def study_pks(writer: Writer) -> pd.Series:
    """study_id -> surrogate key of every stored study."""
    ids = writer.ids(STUDY)
    return pd.Series(ids["id"].to_numpy(), index=ids["study_id"].to_numpy(), dtype="int64")


def import_studies(writer: Writer, raw: RawTable) -> list[ImportIssue]:
    typed, issues = typed_rows(raw, STUDY_FIELDS, ["study_id"])
    if issues:
        return issues
    sponsors = typed.drop_duplicates("sponsor").rename(columns={"sponsor": "name"})
    writer.sync(SPONSOR, sponsors[["name", SOURCE]])
    sponsor_ids = writer.ids(SPONSOR).set_index("name")["id"]
    typed["sponsor_pk"] = typed["sponsor"].map(sponsor_ids)
    writer.sync(only_given(STUDY, raw, STUDY_FIELDS), typed)
    return []


def import_milestones(writer: Writer, raw: RawTable) -> list[ImportIssue]:
    typed, issues = typed_rows(raw, MILESTONE_FIELDS, ["study_id", "milestone"])
    studies = study_pks(writer)
    issues += unknown_reference(raw, typed["study_id"], studies.index, "study_id",
                                "a study_id already in the store (import studies first)")
    if issues:
        return issues
    incoming = typed.rename(columns={"milestone": "kind", "baseline": "baseline_date",
                                     "forecast": "forecast_date", "actual": "actual_date"})
    incoming["study_pk"] = incoming["study_id"].map(studies)
    incoming["forecast_run_pk"] = None
    writer.sync(MILESTONE, incoming)
    return []


def import_staff(writer: Writer, raw: RawTable) -> list[ImportIssue]:
    typed, issues = typed_rows(raw, STAFF_FIELDS, ["staff_id"])
    if issues:
        return issues
    writer.sync(STAFF, typed)
    return []


def _activation_issues(raw: RawTable, typed: pd.DataFrame) -> list[ImportIssue]:
    missing = typed["status"].isin(NEEDS_ACTIVATION_DATE) & typed["actual_activation"].isna()
    return [ImportIssue(raw.source, int(raw.rows.iloc[i]), "actual_activation", "",
                        f"an activation date for a site with status {typed['status'].iloc[i]}")
            for i in np.flatnonzero(missing.to_numpy())[:1000]]


def import_sites(writer: Writer, raw: RawTable) -> list[ImportIssue]:
    """Sites, and their CRA: a changed cra_id moves the site from the import's effective
    date; a blank one ends the site's assignment then."""
    typed, issues = typed_rows(raw, SITE_FIELDS, ["study_id", "site_id"])
    studies = study_pks(writer)
    staff = writer.ids(STAFF)
    cras = existing_rows(writer.session, STAFF)
    cra_ids = set(cras.loc[cras["role"] == Role.CRA.value, "staff_id"])
    issues += unknown_reference(raw, typed["study_id"], studies.index, "study_id",
                                "a study_id already in the store (import studies first)")
    issues += unknown_reference(raw, typed["cra_id"], cra_ids, "cra_id",
                                "the staff_id of a CRA in the store (import staff first)")
    issues += _activation_issues(raw, typed)
    if issues:
        return issues
    incoming = typed.rename(columns={"country": "country_code"})
    incoming["study_pk"] = incoming["study_id"].map(studies)
    writer.sync(SITE, incoming)
    site_ids = writer.ids(SITE).rename(columns={"id": "site_pk"})
    incoming = incoming.merge(site_ids, on=["study_pk", "site_id"])
    incoming["staff_pk"] = incoming["cra_id"].map(staff.set_index("staff_id")["id"])
    sync_assignments(writer, incoming, writer.audit.today)
    return []


def sync_assignments(writer: Writer, sites: pd.DataFrame, today: dt.date) -> None:
    """Make each site's open assignment name its CRA, keeping the history.

    ``sites`` has site_pk, staff_pk (NA: no CRA), study_id, site_id,
    actual_activation, planned_activation and the source. A site with no
    assignment gets one from its activation date (actual, else planned, else
    ``today``); a changed CRA closes the open assignment at ``today`` and opens
    a new one from ``today``; no CRA closes the open assignment at ``today``.
    """
    current = existing_rows(writer.session, ASSIGNMENT,
                            ASSIGNMENT.table.c.effective_to.is_(None))
    merged = sites.merge(current.rename(columns={"staff_pk": "current_staff",
                                                 "effective_from": "current_from"}),
                         on="site_pk", how="left")
    today_ts = pd.Timestamp(today)
    start = merged["actual_activation"].fillna(merged["planned_activation"])
    merged["start"] = start.fillna(today_ts).astype("datetime64[s]")
    has_cra, had_cra = merged["staff_pk"].notna(), merged["current_staff"].notna()
    history = existing_rows(writer.session, ASSIGNMENT)["site_pk"]
    never = ~merged["site_pk"].isin(history)
    # a site's first CRA starts at its activation; a later one (after a gap) from today
    fresh = merged[has_cra & ~had_cra & never].copy()
    resumed = merged[has_cra & ~had_cra & ~never].copy()
    resumed["start"] = today_ts
    fresh = pd.concat([fresh, resumed])
    changed = merged[has_cra & had_cra & (merged["current_staff"] != merged["staff_pk"])]
    ended = merged[~has_cra & had_cra]
    # reassigned again on the day of the last change: the new CRA replaces that row
    closing = pd.concat([changed[changed["current_from"] != today_ts], ended])
    columns = ["site_pk", "effective_from", "staff_pk", "effective_to", "study_id", "site_id",
               SOURCE]
    incoming = pd.concat([
        pd.DataFrame({**_carry(fresh), "effective_from": fresh["start"],
                      "staff_pk": fresh["staff_pk"], "effective_to": pd.NaT}),
        pd.DataFrame({**_carry(closing), "effective_from": closing["current_from"],
                      "staff_pk": closing["current_staff"], "effective_to": today_ts}),
        pd.DataFrame({**_carry(changed), "effective_from": today_ts,
                      "staff_pk": changed["staff_pk"], "effective_to": pd.NaT}),
    ], ignore_index=True)
    if len(incoming):
        writer.sync(ASSIGNMENT, incoming[columns])



def _carry(frame: pd.DataFrame) -> dict[str, pd.Series]:
    return {c: frame[c] for c in ("site_pk", "study_id", "site_id", SOURCE)}
