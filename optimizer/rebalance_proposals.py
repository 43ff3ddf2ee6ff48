"""CRA rebalancing proposals in the store: propose (solve and store a run), find a stored
proposal still made of today's inputs, apply its moves (audited ORM writes).

The command line (``trialplan rebalance``) and the workload page both call these;
they take a session and never commit.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from optimizer.rebalance import RebalanceInputs, RebalanceOptions
from optimizer.rebalance import rebalance as solve_rebalance
from optimizer.rebalance_inputs import rebalance_inputs
from optimizer.rebalance_runs import inputs_hash, options_document, rebalance_document
from optimizer.runs import record_run
from planner.frames import Portfolio
from planner.recruitment.history import ForecastInputError
from planner.tables import CraAssignment, RebalanceRun, Site, Staff, Study


def apply_moves(session: Session, document: dict[str, Any], effective: dt.date) -> None:
    """Close each moved site's open assignment the day before ``effective`` and open the
    new CRA's from it; give sites without a CRA theirs (ORM writes: audited)."""
    for change in document["moves"] + document["new_assignments"]:
        site = session.scalars(select(Site).join(Study, Site.study_pk == Study.id).where(
            Study.study_id == change["study_id"], Site.site_id == change["site_id"])).one()
        current = session.scalars(select(CraAssignment).where(
            CraAssignment.site_pk == site.id, CraAssignment.effective_to.is_(None))
        ).one_or_none()
        if current is not None:
            current.effective_to = effective - dt.timedelta(days=1)
        staff = session.scalars(select(Staff).where(Staff.staff_id == change["to"])).one()
        session.add(CraAssignment(site_pk=site.id, staff_pk=staff.id,
                                  effective_from=effective, effective_to=None))
    session.flush()


def only_study(inputs: RebalanceInputs, study: str) -> tuple[RebalanceInputs,
                                                               frozenset[tuple[str, str]]]:
    """Other studies' sites stay with their CRAs (pinned); those without one are left out."""
    sites = inputs.sites
    keep = (sites["study_id"] == study) | sites["cra"].notna()
    others = sites[keep & (sites["study_id"] != study)]
    pinned = frozenset(zip(others["study_id"], others["site_id"], strict=True))
    return RebalanceInputs(sites[keep], inputs.cras, inputs.hours, inputs.trips,
                           inputs.capacity), pinned


def pinned_sites(values: list[str], inputs: RebalanceInputs) -> frozenset[tuple[str, str]]:
    """--pin STUDY/SITE values, each checked against the store's sites."""
    known = set(zip(inputs.sites["study_id"], inputs.sites["site_id"], strict=True))
    pinned = set()
    for value in values:
        study_id, slash, site_id = value.partition("/")
        if not slash or (study_id, site_id) not in known:
            raise ForecastInputError(f"--pin {value!r}: expected STUDY/SITE of a site in "
                                     "the store")
        pinned.add((study_id, site_id))
    return frozenset(pinned)


def propose(session: Session, portfolio: Portfolio, inputs: RebalanceInputs,
            options: RebalanceOptions, months: int, actor: str, study: str | None = None
            ) -> tuple[RebalanceRun, dict[str, Any]]:
    """Solve and store a proposal (not applied): the run and its document."""
    document = rebalance_document(solve_rebalance(inputs, options))
    stored_options = options_document(options, months) | {"study": study}
    run = record_run(session, RebalanceRun, document, stored_options,
                           inputs_hash(inputs, options, months), portfolio.as_of,
                           actor)
    return run, document


def stored_proposal(session: Session, portfolio: Portfolio, run_id: int) -> RebalanceRun:
    """Stored run ``run_id``, if not applied yet and still made of today's inputs."""
    run = session.get(RebalanceRun, run_id)
    if run is None:
        raise ForecastInputError(f"--apply-run {run_id}: no such rebalance run")
    if run.applied_at is not None:
        raise ForecastInputError(f"--apply-run {run_id}: already applied on "
                                 f"{run.applied_at:%Y-%m-%d %H:%M}")
    stored = dict(run.options)
    months, study = int(stored.pop("months")), stored.pop("study")
    stored["pinned"] = frozenset(tuple(p) for p in stored["pinned"])
    options = RebalanceOptions(**stored)
    inputs = rebalance_inputs(portfolio, months)
    if study is not None:
        inputs, _ = only_study(inputs, study)
    if inputs_hash(inputs, options, months) != run.inputs_sha256:
        raise ForecastInputError(f"--apply-run {run_id}: the portfolio changed since this "
                                 "proposal was made (its inputs differ); propose again")
    return run
