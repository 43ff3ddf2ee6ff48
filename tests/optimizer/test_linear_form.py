"""The matrices read off the expression trees (optimizer.linear_form) are those of Pyomo's
own LinearStandardFormCompiler, entry by entry, once rows and columns are matched."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyomo.environ as pyo
import pytest
from pyomo.repn.plugins.standard_form import LinearStandardFormCompiler

from optimizer.assignment import build_model
from optimizer.linear_form import LinearFormError, linear_form
from optimizer.orlib import as_problem, read_gap_file
from tests.optimizer.test_assignment_golden import small_problem
from tests.optimizer.test_rebalance_search import grouped_problem

ORLIB = Path(__file__).resolve().parents[1] / "data" / "orlib-gap"
AT_MOST, AT_LEAST = 1, -1  # the compiler's row bound types (mixed form)


def _rows(matrix: np.ndarray, lower: np.ndarray, upper: np.ndarray) -> list[tuple]:
    """Each row as (its entries, lower, upper), a sorted multiset: row order is free; a
    range as its two sides, as the compiler's mixed form has it."""
    rows = []
    for row, lo, up in zip(matrix, lower, upper, strict=True):
        entries = tuple(np.round(row, 9))
        if np.isfinite(lo) and np.isfinite(up) and lo != up:
            rows += [(entries, -np.inf, round(up, 9)), (entries, round(lo, 9), np.inf)]
        else:
            rows.append((entries, round(lo, 9), round(up, 9)))
    return sorted(rows)


def assert_same_as_pyomos(model: pyo.ConcreteModel) -> None:
    """Same columns (by variable), costs, offset, rows and row bounds as the compiler's."""
    form = linear_form(model)
    info = LinearStandardFormCompiler().write(model, mixed_form=True)
    theirs = {id(v): i for i, v in enumerate(info.columns)}
    ours = {id(v): i for i, v in enumerate(form.columns)}
    order = [theirs[key] for key in ours]  # their column of each of ours
    dense = info.A.toarray()
    left_out = [theirs[key] for key in set(theirs) - set(ours)]  # the compiler lists every
    # variable of a component it meets: those in no row or cost are zero columns
    assert not np.any(dense[:, left_out])
    cost = np.asarray(info.c.toarray()[0] if hasattr(info.c, "toarray") else info.c[0])
    assert np.allclose(form.cost, cost[order])
    assert form.offset == pytest.approx(float(info.c_offset[0]))
    assert form.maximize == (info.objectives[0].sense == pyo.maximize)
    rhs = np.asarray(info.rhs, dtype=float)
    kinds = np.array([row.bound_type for row in info.rows])
    lower = np.where(kinds == AT_MOST, -np.inf, rhs)
    upper = np.where(kinds == AT_LEAST, np.inf, rhs)
    assert _rows(form.matrix.toarray(), form.row_lower, form.row_upper) == _rows(
        dense[:, order], lower, upper)


def test_every_family_of_the_rebalancing_model() -> None:
    """Assignment, capacity with overload, shedding, move budget, site cap, study spread."""
    model = build_model(small_problem())
    assert_same_as_pyomos(model)
    assert {c.local_name for c in model.component_objects(pyo.Constraint)} >= {
        "assign", "capacity", "shedding", "move_budget", "agent_job_limit", "group_spread"}


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_random_rebalancing_parts(seed: int) -> None:
    problem, _ = grouped_problem(seed)
    assert_same_as_pyomos(build_model(problem))


def test_an_orlib_maximization() -> None:
    instance = read_gap_file(ORLIB / "gap1.txt")[0]
    assert_same_as_pyomos(build_model(as_problem(instance, "max")))


def test_fixed_variables_parameters_ranges_and_nested_sums() -> None:
    m = pyo.ConcreteModel()
    m.x = pyo.Var([1, 2, 3], bounds=(0, 4))
    m.y = pyo.Var(domain=pyo.Binary)
    m.p = pyo.Param(initialize=2.5, mutable=True)
    m.x[3].fix(1.5)
    m.unused = pyo.Var([1, 2])
    m.ranged = pyo.Constraint(expr=pyo.inequality(1, m.x[1] + 2 * m.x[2] - m.x[3], 7))
    m.param = pyo.Constraint(expr=m.p * m.x[1] + m.y >= m.x[2] - 3)
    m.nested = pyo.Constraint(expr=-(m.x[1] - 2 * (m.x[2] + m.y)) + 4 == m.x[3] * 2)
    m.twice = pyo.Constraint(expr=m.x[1] + m.x[1] + 0 * m.y <= 5)
    m.objective = pyo.Objective(expr=3 * m.x[1] - m.p * m.y + 10 + m.x[3], sense=pyo.maximize)
    assert_same_as_pyomos(m)
    rows = linear_form(m).matrix.toarray()  # x[1] twice is one entry of 2, 0·y none
    assert any(np.count_nonzero(row) == 1 and 2.0 in row for row in rows)


def test_what_has_no_linear_form_is_refused() -> None:
    m = pyo.ConcreteModel()
    m.x = pyo.Var([1, 2])
    m.square = pyo.Constraint(expr=m.x[1] * m.x[2] <= 1)
    m.objective = pyo.Objective(expr=m.x[1])
    with pytest.raises(LinearFormError, match="not linear"):
        linear_form(m)
    m.square.deactivate()
    m.x[2].fix(3)
    m.never = pyo.Constraint(expr=m.x[2] <= 1)  # no variable left, and 3 > 1
    with pytest.raises(LinearFormError, match="never cannot hold"):
        linear_form(m)

