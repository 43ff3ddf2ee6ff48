"""Generate the demo portfolio and load it through the project's own importers.

:func:`generate` is pure (seed and cut in, frames out); :func:`build_demo`
imports those frames exactly as users' files would be imported, then the
real CDISC pilot study. Importers match natural keys and generation is
deterministic, so building the demo twice changes nothing the second time.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from sqlalchemy import func, select
from sqlalchemy.orm import Session

import trialplan
from planner.importing.readers import RawTable
from planner.importing.run import import_files, import_sdtm_tables, import_tables
from planner.tables import CraAssignment, Site, Staff, Study, Subject, SubjectVisit
from trialplan.demo.catalogue import STUDIES, StudySpec
from trialplan.demo.enrollment import Enrollment, simulate
from trialplan.demo.milestones import milestone_rows
from trialplan.demo.planning import driver_rows, leave_rows
from trialplan.demo.sdtm import domains
from trialplan.demo.sites import draw_sites, site_rows, timeline
from trialplan.demo.staff import assign_cras, draw_staff
from trialplan.demo.work_orders import pilot_milestone_rows

DEMO_AS_OF = dt.date(2026, 10, 31)
DEMO_SEED = 20261031
PILOT_DIR = Path(trialplan.__file__).parent / "data" / "cdiscpilot01"
PILOT_DOMAINS = ("dm", "ds", "sv", "tv", "ts")
PILOT_STUDY_ID = "CDISCPILOT01"


@dataclass(frozen=True)
class DemoData:
    """The generated portfolio as exchange-format frames, before any import."""

    studies: pd.DataFrame
    staff: pd.DataFrame
    sites: pd.DataFrame
    milestones: pd.DataFrame
    leave: pd.DataFrame  # some CRAs' summer and year-end leave
    drivers: pd.DataFrame  # a few monitoring driver overrides
    sdtm: dict[str, dict[str, pd.DataFrame]]  # study_id -> domain -> frame


@dataclass(frozen=True)
class DemoSummary:
    """What the demo put in the store, counted there after the imports."""

    studies: int
    sites: int
    subjects: int
    randomized: int
    visits: int
    staff: int
    assignments: int
    changed: int  # rows inserted or updated by this build (0 when the demo was there)


def import_frame(session: Session, kind: str, frame: pd.DataFrame, actor: str) -> int:
    """Import a generated frame as if it were a user's file of ``kind``; rows changed."""
    if frame.empty:
        return 0
    return import_tables(session, kind, [RawTable.from_frame(f"demo {kind}", frame)],
                         actor).changed


def study_row(spec: StudySpec) -> dict[str, object]:
    return {"study_id": spec.study_id, "sponsor": spec.sponsor, "phase": spec.phase.value,
            "therapeutic_area": spec.therapeutic_area,
            "target_randomized": spec.target_randomized, "currency": spec.currency,
            "treatment_weeks": spec.treatment_weeks, "title": spec.title,
            "planned_sf_rate": spec.sf_rate, "dropout_rate": spec.dropout_rate,
            "followup_weeks": spec.followup_weeks}


def generate(seed: int = DEMO_SEED, as_of: dt.date = DEMO_AS_OF) -> DemoData:
    """The whole demo portfolio as of ``as_of``, reproducible from ``seed``.

    Each study draws from its own child stream of ``default_rng(seed)`` and
    the staff from another, so the draws of one never shift another's.
    """
    root = np.random.default_rng(seed)
    streams = root.spawn(len(STUDIES) + 1)
    site_frames, milestone_frames, sdtm = [], [], {}
    for spec, rng in zip(STUDIES, streams, strict=False):
        plan = timeline(spec, as_of, rng)
        sites = draw_sites(spec, plan, rng)
        history: Enrollment = simulate(spec, sites, as_of, rng)
        site_frames.append(site_rows(sites, history.subjects, as_of, history.lpi))
        milestone_frames.append(milestone_rows(spec, plan, sites, history, as_of))
        sdtm[spec.study_id] = domains(history, spec.study_id)
    sites = pd.concat(site_frames, ignore_index=True)
    staff, weights = draw_staff(sites, streams[-1])
    sites["cra_id"] = assign_cras(sites, staff, weights)
    return DemoData(pd.DataFrame([study_row(s) for s in STUDIES]), staff, sites,
                    pd.concat(milestone_frames, ignore_index=True), leave_rows(staff, as_of),
                    driver_rows(sites), sdtm)


def build_demo(session: Session, actor: str, seed: int = DEMO_SEED,
               as_of: dt.date = DEMO_AS_OF) -> DemoSummary:
    """Import the demo portfolio and the CDISC pilot into the caller's transaction.

    Never commits: the caller decides. Raises
    :class:`~planner.importing.issues.ImportRejected` if an importer refuses
    a frame (a bug in the demo, since its data are generated to be valid).
    """
    data = generate(seed, as_of)
    changed = 0
    for kind, frame in (("studies", data.studies), ("staff", data.staff),
                        ("sites", data.sites), ("milestones", data.milestones),
                        ("leave", data.leave), ("drivers", data.drivers)):
        changed += import_frame(session, kind, frame, actor)
    for study_id, frames in data.sdtm.items():
        tables = [(RawTable.from_frame(f"{name} (demo {study_id})", frame), name.lower())
                  for name, frame in frames.items() if len(frame)]  # no subjects yet: TV only
        changed += import_sdtm_tables(session, tables, actor).changed
    pilot = [PILOT_DIR / f"{name}.xpt" for name in PILOT_DOMAINS]
    changed += import_files(session, "sdtm", pilot, actor).changed
    baseline = pilot_milestone_rows(PILOT_STUDY_ID).assign(forecast="", actual="")
    changed += import_frame(session, "milestones", baseline, actor)
    return _summary(session, [*data.sdtm, PILOT_STUDY_ID], list(data.staff["staff_id"]),
                    changed)


def _summary(session: Session, study_ids: list[str], staff_ids: list[str],
             changed: int) -> DemoSummary:
    def count(statement: object) -> int:
        return int(session.scalar(statement) or 0)

    in_demo = Study.study_id.in_(study_ids)
    subjects = select(func.count(Subject.id)).join(Study, Subject.study_pk == Study.id)
    return DemoSummary(
        studies=count(select(func.count(Study.id)).where(in_demo)),
        sites=count(select(func.count(Site.id)).join(Study).where(in_demo)),
        subjects=count(subjects.where(in_demo)),
        randomized=count(subjects.where(in_demo, Subject.randomized_date.is_not(None))),
        visits=count(select(func.count(SubjectVisit.id))
                     .join(Subject, SubjectVisit.subject_pk == Subject.id)
                     .join(Study, Subject.study_pk == Study.id).where(in_demo)),
        staff=count(select(func.count(Staff.id)).where(Staff.staff_id.in_(staff_ids))),
        assignments=count(select(func.count(CraAssignment.id))
                          .join(Site, CraAssignment.site_pk == Site.id)
                          .join(Study, Site.study_pk == Study.id)
                          .where(in_demo, CraAssignment.effective_to.is_(None))),
        changed=changed,
    )
