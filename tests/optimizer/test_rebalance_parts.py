"""The rebalancing's split: the sites with one choice as constants, each part's tables,
on a hand-worked case."""

from __future__ import annotations

import pandas as pd

from optimizer.decompose import components
from optimizer.rebalance_parts import coded_load, fixed_sites, joint_tables, part_tables


def frame(rows: list[tuple], columns: list[str]) -> pd.DataFrame:
    return pd.DataFrame(rows, columns=columns)


def case() -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """s1 only with A (10 h in m1), s3 only with C (30 h in m1 against C's 20 h, and C has
    no site with a choice: 10 h of overload nothing can relieve); s2 with A or B (5 h in
    m1), s5 with D or E (4 h in m2): two parts. A's m1 has 12 − 10 = 2 h left for s2."""
    pairs = frame([("A", "s1", 3.0, False), ("A", "s2", 0.0, False), ("B", "s2", 250.0, True),
                   ("C", "s3", 4.0, False), ("D", "s5", 0.0, False), ("E", "s5", 260.0, True)],
                  ["agent", "job", "cost", "move"])
    load = frame([("A", "s1", "m1", 10.0), ("A", "s2", "m1", 5.0), ("B", "s2", "m1", 5.0),
                  ("C", "s3", "m1", 30.0), ("D", "s5", "m2", 4.0), ("E", "s5", "m2", 4.0),
                  ("A", "s2", "m2", 0.0)], ["agent", "job", "period", "amount"])
    capacity = frame([("A", "m1", 12.0), ("A", "m2", 12.0), ("B", "m1", 8.0), ("C", "m1", 20.0),
                      ("D", "m2", 5.0), ("E", "m2", 5.0)], ["agent", "period", "capacity"])
    groups = frame([("s1", "X"), ("s2", "X"), ("s3", "Y"), ("s5", "Z")], ["job", "group"])
    return pairs, load, capacity, groups


def test_the_sites_with_one_choice_are_constants() -> None:
    pairs, load, capacity, groups = case()
    fixed = fixed_sites(pairs, load, coded_load(load), capacity, groups, 1000.0, 100.0)
    assert sorted(fixed.free["job"].unique()) == ["s2", "s5"]
    room = {(a, t): c for a, t, c in fixed.capacity.itertuples(index=False)}
    assert room == {("A", "m1"): 2.0, ("A", "m2"): 12.0, ("B", "m1"): 8.0,
                    ("C", "m1"): -10.0, ("D", "m2"): 5.0, ("E", "m2"): 5.0}
    assert list(fixed.overload.itertuples(index=False, name=None)) == [("C", "m1", 10.0)]
    assert fixed.worked == {("A", "X"), ("C", "Y")}
    assert fixed.constant == 3.0 + 4.0 + 1000.0 * 10.0 + 100.0 * 2  # travel, overload, studies
    assert sorted(map(tuple, fixed.assignment.to_numpy())) == [("s1", "A"), ("s3", "C")]


def test_each_part_gets_its_own_rows_in_the_datas_order() -> None:
    pairs, load, capacity, groups = case()
    coded = coded_load(load)
    fixed = fixed_sites(pairs, load, coded, capacity, groups, 1000.0, 100.0)
    label = components(fixed.free)
    tables = part_tables(fixed.free, load, coded, fixed.capacity, groups, label)
    assert set(tables) == {0, 1}
    s2, s5 = tables[label["s2"]], tables[label["s5"]]
    assert list(s2.pairs.index) == [1, 2] and list(s5.pairs.index) == [4, 5]
    assert list(s2.load.index) == [1, 2, 6] and list(s5.load.index) == [4, 5]
    assert sorted(s2.capacity["agent"] + s2.capacity["period"]) == ["Am1", "Am2", "Bm1"]
    assert sorted(s5.capacity["agent"] + s5.capacity["period"]) == ["Dm2", "Em2"]
    assert list(s2.groups["job"]) == ["s2"] and list(s5.groups["job"]) == ["s5"]
    joint = joint_tables(fixed.free, tables)
    assert list(joint.load.index) == [1, 2, 4, 5, 6]
    assert len(joint.capacity) == 5 and list(joint.groups["job"]) == ["s2", "s5"]
