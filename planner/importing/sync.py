"""Matching incoming rows to the store on natural keys, then writing the difference.

``plan_changes`` compares an incoming frame with what the store holds and
splits it into inserts, updates (with the row before) and unchanged rows, so
re-importing a file is a no-op and a changed file is an update. ``apply``
writes a plan set-wise and audits every row it touched in the same
transaction. Nothing here commits.
"""

from __future__ import annotations

import json
import logging
import math
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import numpy as np
import pandas as pd
from sqlalchemy import JSON, Boolean, Date, Float, Integer, Numeric, Table, select
from sqlalchemy.orm import Session

from planner.bulk import date_text, fetch_tuples
from planner.importing.writes import SOURCE, AuditContext, apply
from planner.tables import MoneyAmount

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class EntitySpec:
    """How one table is matched and audited.

    ``key`` are the table columns forming its natural key (foreign keys
    already resolved to surrogate ids); ``values`` the columns an import sets;
    ``audit_key`` the domain-word columns (study_id, site_id ...) of the
    incoming frame that name a row in the audit log.
    """

    table: Table
    key: tuple[str, ...]
    values: tuple[str, ...]
    audit_key: tuple[str, ...]


@dataclass
class ChangePlan:
    spec: EntitySpec
    inserts: pd.DataFrame
    updates: pd.DataFrame  # incoming values plus "_pk" and "before_<column>"
    unchanged: int
    deletes: pd.DataFrame | None = None  # stored rows (with "_pk") the transfer no longer has

    @property
    def entity(self) -> str:
        return self.spec.table.name

    def summary(self) -> dict[str, int]:
        counts = {"insert": len(self.inserts), "update": len(self.updates),
                  "unchanged": self.unchanged}
        if self.deletes is not None:
            counts["delete"] = len(self.deletes)
        return counts


def _normalise(series: pd.Series, column_type: Any) -> pd.Series:
    """Bring store and incoming values to one dtype so that equal means equal."""
    if isinstance(column_type, Date):
        if not pd.api.types.is_datetime64_any_dtype(series):
            series = pd.to_datetime(series, format="ISO8601", errors="coerce")
        return series.astype("datetime64[s]")
    if isinstance(column_type, Boolean):
        return series.astype("boolean")
    if isinstance(column_type, Integer):
        return pd.to_numeric(series, errors="coerce").astype("Int64")
    if isinstance(column_type, Float):
        return pd.to_numeric(series, errors="coerce").astype("Float64")
    if isinstance(column_type, Numeric | MoneyAmount):
        return series.map(lambda v: None if v is None or (isinstance(v, float) and
                                                          math.isnan(v)) else Decimal(v))
    if isinstance(column_type, JSON):
        return series
    return series.astype(object).where(series.notna(), None)


def _equal(a: pd.Series, b: pd.Series) -> np.ndarray:
    if a.dtype == object or b.dtype == object:
        return np.fromiter(((x == y) or (_missing(x) and _missing(y))
                            for x, y in zip(a, b, strict=True)), dtype=bool, count=len(a))
    same = (a == b).fillna(False).to_numpy(dtype=bool)
    return same | (a.isna().to_numpy() & b.isna().to_numpy())


def _missing(value: Any) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value)) or value is pd.NaT \
        or value is pd.NA


def existing_rows(session: Session, spec: EntitySpec, where: Any = None) -> pd.DataFrame:
    """The store's rows of ``spec.table`` (id, key and value columns), normalised."""
    table = spec.table
    columns = ["id", *spec.key, *spec.values]
    dialect = session.get_bind().dialect.name
    statement = select(*(date_text(table.c[c], dialect) if isinstance(table.c[c].type, Date)
                         else table.c[c] for c in columns))
    if where is not None:
        statement = statement.where(where)
    frame = pd.DataFrame.from_records(fetch_tuples(session, statement), columns=columns)
    for column in columns[1:]:
        column_type = table.c[column].type
        if isinstance(column_type, JSON):  # raw SQLite rows hold the JSON text
            frame[column] = frame[column].map(
                lambda v: json.loads(v) if isinstance(v, str) else v).astype(object)
        frame[column] = _normalise(frame[column], column_type)
    return frame


def plan_changes(session: Session, spec: EntitySpec, incoming: pd.DataFrame,
                 where: Any = None, replace_within: str | None = None) -> ChangePlan:
    """Split ``incoming`` into inserts, updates and unchanged rows against the store.

    With ``replace_within`` (a key column such as ``subject_pk``) the incoming
    rows are the complete set for each value of that column they mention:
    stored rows of those values that the file no longer has are deleted.
    """
    table = spec.table
    incoming = incoming.copy()
    for column in (*spec.key, *spec.values):
        incoming[column] = _normalise(incoming[column], table.c[column].type)
    current = existing_rows(session, spec, where)
    merged = incoming.merge(current.rename(columns={c: f"before_{c}" for c in spec.values}
                                           ).rename(columns={"id": "_pk"}),
                            on=list(spec.key), how="left", indicator=True)
    new = merged["_merge"].to_numpy() == "left_only"
    matched = merged[~new]
    differs = np.zeros(len(matched), dtype=bool)
    for column in spec.values:
        differs |= ~_equal(matched[column], matched[f"before_{column}"])
    updates = matched[differs].drop(columns="_merge")
    inserts = merged[new][incoming.columns]
    deletes = None
    if replace_within is not None:
        deletes = _missing_rows(spec, incoming, current, replace_within)
    return ChangePlan(spec, inserts.reset_index(drop=True), updates.reset_index(drop=True),
                      int((~differs).sum()), deletes)


def _missing_rows(spec: EntitySpec, incoming: pd.DataFrame, current: pd.DataFrame,
                  scope: str) -> pd.DataFrame:
    """Stored rows within the incoming scope values whose key the incoming rows lack,
    with the audit-key columns of their scope (e.g. study_id, subject_id)."""
    in_scope = current[current[scope].isin(incoming[scope])]
    present = in_scope.merge(incoming[list(spec.key)], on=list(spec.key), how="left",
                             indicator=True)
    gone = present[present["_merge"].to_numpy() == "left_only"].drop(columns="_merge")
    scope_keys = [c for c in spec.audit_key if c not in spec.key]
    names = incoming.drop_duplicates(scope)[[scope, *scope_keys, SOURCE]]
    return gone.merge(names, on=scope, how="left").rename(columns={"id": "_pk"})


@dataclass
class Writer:
    """Plans and applies changes entity by entity inside the caller's transaction.

    A dry run goes through the very same steps; the edge rolls it back.
    """

    session: Session
    audit: AuditContext
    counts: dict[str, dict[str, int]]

    def sync(self, spec: EntitySpec, incoming: pd.DataFrame, where: Any = None,
             replace_within: str | None = None) -> ChangePlan:
        """Plan and apply; see :func:`plan_changes` for ``where`` and ``replace_within``."""
        plan = plan_changes(self.session, spec, incoming, where, replace_within)
        log.info("%s: writing %s", plan.entity,
                 ", ".join(f"{n:,} {action}" for action, n in plan.summary().items()))
        apply(self.session, plan, self.audit)
        tally = self.counts.setdefault(plan.entity, {"insert": 0, "update": 0, "unchanged": 0})
        for action, number in plan.summary().items():
            tally[action] = tally.get(action, 0) + number
        return plan

    def ids(self, spec: EntitySpec, where: Any = None) -> pd.DataFrame:
        """id and natural key of the stored rows, e.g. to resolve foreign keys."""
        table = spec.table
        statement = select(table.c.id, *(table.c[c] for c in spec.key))
        if where is not None:
            statement = statement.where(where)
        return pd.DataFrame.from_records(fetch_tuples(self.session, statement),
                                         columns=["id", *spec.key])
