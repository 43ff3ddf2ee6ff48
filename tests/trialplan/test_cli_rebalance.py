"""`trialplan rebalance` on the demo: the move budget, overload only ever goes down, a
proposal changes nothing, --apply moves the sites (audited)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from sqlalchemy import create_engine, select
from sqlalchemy.orm import Session

from optimizer.geography import may_cross_border
from planner.frames import load_portfolio
from planner.tables import AuditEntry
from tests.conftest import snapshot
from tests.trialplan.cli_runner import trialplan


@pytest.fixture
def demo_url(tmp_path: Path) -> str:
    url = f"sqlite:///{tmp_path / 'demo.db'}"
    assert trialplan(url, "demo").exit_code == 0
    return url


def test_proposal_respects_the_budget_and_changes_nothing(demo_url: str) -> None:
    engine = create_engine(demo_url)
    before = snapshot(engine)
    result = trialplan(demo_url, "rebalance", "--max-moves", "4", "--time-limit", "30",
                       "--json")
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)
    assert doc["status"] == "optimal" and not doc["applied"]
    assert 0 < len(doc["moves"]) <= 4
    with Session(engine) as session:
        portfolio = load_portfolio(session)
    sites = portfolio.sites.set_index(["study_id", "site_id"])
    staff = portfolio.staff.set_index("staff_id")
    for move in doc["moves"]:
        site = sites.loc[(move["study_id"], move["site_id"])]
        assert move["from"] == site["cra_id"] != move["to"]
        to = staff.loc[move["to"]]
        assert to["home_country"] == site["country"] or may_cross_border(  # eligible
            to["home_country"], set(to["languages"]), site["country"])
    over = [(u["before"] > 1, u["after"] > 1 + 1e-6) for u in doc["utilization"]]
    assert sum(a for _, a in over) < sum(b for b, _ in over)
    assert snapshot(engine) == before  # a proposal writes nothing


def test_apply_moves_the_sites_and_audits(demo_url: str) -> None:
    result = trialplan(demo_url, "rebalance", "--max-moves", "2", "--time-limit", "30",
                       "--apply", "--json")
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)
    assert doc["applied"] and len(doc["moves"]) == 2
    engine = create_engine(demo_url)
    with Session(engine) as session:
        sites = load_portfolio(session).sites.set_index(["study_id", "site_id"])
        for change in doc["moves"] + doc["new_assignments"]:
            assert sites.loc[(change["study_id"], change["site_id"]), "cra_id"] == change["to"]
        audited = session.scalars(select(AuditEntry).where(
            AuditEntry.entity == "cra_assignment", AuditEntry.source.is_(None))).all()
        actions = [a.action.value for a in audited]
        assert actions.count("update") == 2  # the two moved sites' assignments end
        assert actions.count("insert") == 2 + len(doc["new_assignments"])
        assert {a.actor for a in audited} == {"tester"}
