"""A rebalancing's data split for solving: the sites with one choice, and each part's tables.

A site with a single eligible CRA is no decision: its hours come off that CRA's
capacity, its travel and study count are constants. The sites with a choice
split into connected components (:mod:`optimizer.decompose`), and each part
gets its rows of the load, capacity and study tables. The keys are coded once
and every part's rows found in one pass: filtering the 1.35 million load rows
by names per part, and merging them by names, took 2.5 s of a 60 s
rebalancing at 2,000 CRAs × 20,000 sites, before and between the parts (0.75 s
now; benchmarks/README.md).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd


@dataclass(frozen=True)
class Fixed:
    """What the sites with one choice leave: ``free`` the pairs of the sites with a choice,
    ``capacity`` (agent, period, capacity) net of the fixed sites' hours, ``overload``
    (agent, period, hours) the fixed sites' overload no free site can relieve, ``worked``
    the (agent, group) pairs they pay for, ``assignment`` (job, agent) theirs and
    ``constant`` their share of the objective."""

    free: pd.DataFrame
    capacity: pd.DataFrame
    overload: pd.DataFrame
    worked: frozenset[tuple]
    assignment: pd.DataFrame
    constant: float


@dataclass(frozen=True)
class PartTables:
    """One part's rows (in the data's order, with its index): ``pairs``, ``load`` (both
    ends of the pair in the part), ``capacity`` (its agents), ``groups`` (its jobs)."""

    pairs: pd.DataFrame
    load: pd.DataFrame
    capacity: pd.DataFrame
    groups: pd.DataFrame


@dataclass(frozen=True)
class CodedLoad:
    """The load table's keys coded once (``pd.factorize``): per row a code into the
    distinct keys (jobs, agents, periods)."""

    job: np.ndarray
    jobs: pd.Index
    agent: np.ndarray
    agents: pd.Index
    period: np.ndarray
    periods: pd.Index


def coded_load(load: pd.DataFrame) -> CodedLoad:
    """``load``'s job, agent and period coded (factorizing its 1.35 million names at
    2,000 × 20,000 takes 0.1 s a column)."""
    columns = [pd.factorize(load[name]) for name in ("job", "agent", "period")]
    return CodedLoad(*[part for codes, keys in columns for part in (codes, pd.Index(keys))])


def _part_of_rows(column: pd.Series, part_of: pd.Series) -> np.ndarray:
    """Each row's part by its key in ``column`` (−1: a key in no part); the column is
    factorized, so each distinct key is looked up once."""
    return _part_of_codes(*pd.factorize(column), part_of)


def _part_of_codes(codes: np.ndarray, keys: pd.Index, part_of: pd.Series) -> np.ndarray:
    """Each row's part by its key's code (−1: a key in no part)."""
    parts = part_of.reindex(keys).fillna(-1).to_numpy(dtype=np.int64)
    rows = np.full(len(codes), -1, dtype=np.int64)
    known = codes >= 0  # (−1: a missing key)
    rows[known] = parts[codes[known]]
    return rows


def _rows_of(parts: np.ndarray) -> dict[int, np.ndarray]:
    """Each part's row positions, ascending (rows at −1 left out)."""
    rows = np.flatnonzero(parts >= 0)
    rows = rows[np.argsort(parts[rows], kind="stable")]
    cuts = np.flatnonzero(np.diff(parts[rows])) + 1
    return {int(parts[chunk[0]]): chunk for chunk in np.split(rows, cuts) if len(chunk)}


def fixed_sites(pairs: pd.DataFrame, load: pd.DataFrame, coded: CodedLoad,
                capacity: pd.DataFrame, groups: pd.DataFrame, overload_penalty: float,
                group_penalty: float) -> Fixed:
    """The sites with one eligible CRA taken out (see the module docstring); ``coded``:
    ``load``'s keys."""
    choices = pairs.groupby("job")["agent"].transform("size")
    fixed, free = pairs[choices == 1], pairs[choices > 1]
    held_by = pd.Series(coded.agents.get_indexer(fixed["agent"]),
                        index=fixed["job"].to_numpy())
    holder = held_by.reindex(coded.jobs).fillna(-2).to_numpy(dtype=np.int64)  # −2: not fixed
    job = np.maximum(coded.job, 0)  # (−1, a missing job, is masked by ``known``)
    known = coded.job >= 0
    fixed_load = load[known & (holder[job] == coded.agent)].groupby(
        ["agent", "period"])["amount"].sum()
    net = capacity.set_index(["agent", "period"])["capacity"]
    keys = net.index.union(fixed_load.index)
    room = net.reindex(keys, fill_value=0.0) - fixed_load.reindex(keys, fill_value=0.0)
    free_job = coded.jobs.isin(free["job"].unique())
    movable = known & free_job[job] & (load["amount"].to_numpy() != 0)
    stride = max(len(coded.periods), 1)  # (agent, period) as one integer
    inside = np.unique(coded.agent[movable] * stride + coded.period[movable])
    room_agent = coded.agents.get_indexer(room.index.get_level_values("agent"))
    room_period = coded.periods.get_indexer(room.index.get_level_values("period"))
    relieved = (room_agent >= 0) & (room_period >= 0) & np.isin(
        room_agent * stride + room_period, inside)
    outside = (-room[~relieved]).clip(lower=0.0)
    overload = outside[outside > 1e-6].rename("hours").reset_index()
    held = fixed[["agent", "job"]].merge(groups, on="job")
    worked = frozenset(zip(held["agent"], held["group"], strict=True))
    constant = (float(fixed["cost"].sum()) + overload_penalty * float(overload["hours"].sum())
                + group_penalty * len(worked))
    return Fixed(free, room.rename("capacity").reset_index(), overload, worked,
                 fixed[["job", "agent"]], constant)


def part_tables(free: pd.DataFrame, load: pd.DataFrame, coded: CodedLoad,
                capacity: pd.DataFrame, groups: pd.DataFrame,
                label: pd.Series) -> dict[int, PartTables]:
    """Each part's tables, by its number in ``label`` (job → part): a load row belongs to
    a part when both its job and its agent do (an agent of ``free`` is in one part);
    ``coded``: ``load``'s keys."""
    job_part = _part_of_rows(free["job"], label)
    agent_of = pd.Series(job_part, index=free["agent"].to_numpy())
    agent_part = agent_of[~agent_of.index.duplicated()]
    load_part = _part_of_codes(coded.job, coded.jobs, label)
    load_part = np.where(load_part == _part_of_codes(coded.agent, coded.agents, agent_part),
                         load_part, -1)
    pair_rows, load_rows = _rows_of(job_part), _rows_of(load_part)
    capacity_rows = _rows_of(_part_of_rows(capacity["agent"], agent_part))
    group_rows = _rows_of(_part_of_rows(groups["job"], label))
    empty = np.zeros(0, dtype=np.int64)
    return {number: PartTables(free.iloc[rows], load.iloc[load_rows.get(number, empty)],
                               capacity.iloc[capacity_rows.get(number, empty)],
                               groups.iloc[group_rows.get(number, empty)])
            for number, rows in pair_rows.items()}


def joint_tables(free: pd.DataFrame, parts: dict[int, PartTables]) -> PartTables:
    """All parts' tables as one (in the data's order), for a budget that couples them."""
    def joined(frames: list[pd.DataFrame]) -> pd.DataFrame:
        return pd.concat(frames).sort_index(kind="stable")
    return PartTables(free, joined([p.load for p in parts.values()]),
                      joined([p.capacity for p in parts.values()]),
                      joined([p.groups for p in parts.values()]))
