"""The demo's leave and driver overrides: stored through the importers, used by the workload."""

from __future__ import annotations

import pandas as pd
import pytest
from sqlalchemy import create_engine

from planner.frames import load_portfolio
from planner.store import transaction
from planner.workload.capacity import cra_capacity
from planner.workload.drivers import DEFAULT_DRIVERS
from planner.workload.monitoring import horizon
from planner.workload.overrides import site_drivers
from trialplan.demo import DEMO_AS_OF, generate


def test_demo_leave_and_overrides_are_stored_and_used(demo_url: str) -> None:
    data = generate()
    with transaction(create_engine(demo_url), "tester") as session:
        p = load_portfolio(session)
    assert len(p.leave) == len(data.leave) > 10
    assert len(p.drivers) == len(data.drivers) == 4
    chosen, sets = site_drivers(p.sites, p.drivers)
    resolved = {key: sets[code] for key, code in chosen.items()}
    heavy = data.drivers[data.drivers["site_id"] != ""]["site_id"].iloc[0]
    onc = p.sites[p.sites["study_id"] == "AUR-ONC-301"]
    assert resolved[("AUR-ONC-301", heavy)].imv_weeks == 2.0  # site beats study
    others = [resolved[("AUR-ONC-301", s)].imv_weeks for s in onc["site_id"] if s != heavy]
    assert set(others) == {3.0}
    us = p.sites[(p.sites["study_id"] == "HLX-CV-302")]
    shares = {c: resolved[("HLX-CV-302", s)].remote_share
              for c, s in zip(us["country"], us["site_id"], strict=True)}
    assert shares["US"] == 0.5 and shares["DE"] == DEFAULT_DRIVERS.remote_share
    # leave comes off the capacity of the month it is in
    row = p.leave.iloc[0]
    months = horizon(DEMO_AS_OF, 12)
    cap = cra_capacity(p, months, 0.8).set_index(["staff_id", "month"])["capacity"]
    staff = p.staff.set_index("staff_id").loc[row["staff_id"]]
    month = pd.Period(row["month"], "M")
    assert cap[(row["staff_id"], month)] == pytest.approx(
        staff["capacity_hours_month"] * staff["fte"] * 0.8 - row["hours"])


def test_demo_planning_inputs_are_deterministic() -> None:
    one, two = generate(), generate()
    pd.testing.assert_frame_equal(one.leave, two.leave)
    pd.testing.assert_frame_equal(one.drivers, two.drivers)
