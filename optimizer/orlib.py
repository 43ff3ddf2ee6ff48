"""OR-Library generalized assignment instances (J. E. Beasley; M. Yagiura's sets).

Two layouts: the original multi-problem files (``gap1`` .. ``gap12``, ``gapa`` ..
``gapd``: the number of problems, then per problem ``m n``, m rows of n costs,
m rows of n resource uses, m capacities) and single-instance files (the same
without the leading count, e.g. ``d801600``). Instances are named as in the
published bound tables: ``cMMNN_k`` for the k-th problem of gap1..gap12 (m
agents, n jobs), ``<type><MM><n>`` for the a–e sets. gap1..gap12 optima are
published for maximization, the a–e sets for minimization.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from optimizer.assignment import AssignmentProblem


class InstanceFormatError(ValueError):
    """The file is not an OR-Library GAP file; the message says where it went wrong."""


@dataclass(frozen=True)
class GapInstance:
    name: str
    cost: np.ndarray  # (agents, jobs): cost (or profit) of giving job j to agent i
    use: np.ndarray  # (agents, jobs): capacity job j uses on agent i
    capacity: np.ndarray  # (agents,)

    @property
    def agents(self) -> int:
        return int(self.cost.shape[0])

    @property
    def jobs(self) -> int:
        return int(self.cost.shape[1])


def _instance_name(stem: str, agents: int, jobs: int, index: int, problems: int) -> str:
    numbered = re.fullmatch(r"gap(\d+)", stem)
    if numbered:
        return f"c{agents:02d}{jobs:02d}_{index}"
    lettered = re.fullmatch(r"gap([a-e])", stem)
    if lettered:
        return f"{lettered.group(1)}{agents:02d}{jobs}"
    return stem if problems == 1 else f"{stem}_{index}"


def _problem(values: np.ndarray, at: int, path: Path) -> tuple[int, int, int, np.ndarray,
                                                                np.ndarray, np.ndarray]:
    if at + 2 > len(values):
        raise InstanceFormatError(f"{path}: ends where a problem's 'agents jobs' line should be")
    m, n = int(values[at]), int(values[at + 1])
    if m <= 0 or n <= 0:
        raise InstanceFormatError(f"{path}: agents {m} and jobs {n} must be positive")
    size = 2 * m * n + m
    body = values[at + 2: at + 2 + size]
    if len(body) < size:
        raise InstanceFormatError(
            f"{path}: a {m} x {n} problem needs {size} numbers after 'm n', found {len(body)}")
    cost = body[: m * n].reshape(m, n)
    use = body[m * n: 2 * m * n].reshape(m, n)
    return m, n, at + 2 + size, cost, use, body[2 * m * n:]


def read_gap_file(path: Path) -> list[GapInstance]:
    """Every instance in ``path``, in either layout."""
    text = Path(path).read_text()
    lines = [line.split() for line in text.splitlines() if line.strip()]
    if not lines:
        raise InstanceFormatError(f"{path}: empty file")
    try:
        values = np.array([int(token) for line in lines for token in line], dtype=np.int64)
    except ValueError as exc:
        raise InstanceFormatError(f"{path}: not all integers ({exc})") from None
    multi = len(lines[0]) == 1
    problems = int(values[0]) if multi else 1
    at = 1 if multi else 0
    instances = []
    for index in range(1, problems + 1):
        m, n, at, cost, use, capacity = _problem(values, at, path)
        name = _instance_name(Path(path).stem, m, n, index, problems)
        instances.append(GapInstance(name, cost.astype(float), use.astype(float),
                                     capacity.astype(float)))
    if at != len(values):
        raise InstanceFormatError(f"{path}: {len(values) - at} numbers left after "
                                  f"{problems} problem(s)")
    return instances


def read_bounds(path: Path) -> dict[tuple[str, str], tuple[float, float]]:
    """``bounds.tsv``: (instance, "min"|"max") → (lower, upper) best-known bound."""
    out = {}
    for line in Path(path).read_text().splitlines():
        if not line.strip():
            continue
        key, low, high = line.split("\t")
        name, sense = key.rsplit("_", 1)
        out[(name, sense.lower())] = (float(low), float(high))
    return out


def as_problem(instance: GapInstance, sense: str = "min") -> AssignmentProblem:
    """The instance as an assignment problem: every agent eligible for every job, one
    period, hard capacities."""
    agents, jobs = np.meshgrid(np.arange(instance.agents), np.arange(instance.jobs),
                               indexing="ij")
    pairs = pd.DataFrame({"agent": agents.ravel(), "job": jobs.ravel(),
                          "cost": instance.cost.ravel()})
    load = pairs[["agent", "job"]].assign(period=0, amount=instance.use.ravel())
    capacity = pd.DataFrame({"agent": np.arange(instance.agents), "period": 0,
                             "capacity": instance.capacity})
    return AssignmentProblem(pairs, load, capacity, sense=sense)
