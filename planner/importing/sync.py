"""Matching incoming rows to the store on natural keys, then writing the difference.

``plan_changes`` compares an incoming frame with what the store holds and
splits it into inserts, updates (with the row before) and unchanged rows, so
re-importing a file is a no-op and a changed file is an update. ``apply``
writes a plan set-wise and audits every row it touched in the same
transaction. Nothing here commits.
"""

from __future__ import annotations

import datetime as dt
import json
import math
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import numpy as np
import pandas as pd
from sqlalchemy import JSON, Boolean, Date, Float, Integer, Numeric, Table, bindparam, select
from sqlalchemy.orm import Session

from planner.bulk import insert_rows, update_rows
from planner.domain import AuditAction
from planner.tables import AuditEntry, MoneyAmount

SOURCE = "_source"  # column with "file, row N" for every incoming row


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
        return pd.to_datetime(series, errors="coerce").astype("datetime64[s]")
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
    statement = select(*(table.c[c] for c in columns))
    if where is not None:
        statement = statement.where(where)
    rows = session.execute(statement).all()
    frame = pd.DataFrame(rows, columns=columns) if rows else pd.DataFrame(columns=columns)
    for column in columns[1:]:
        frame[column] = _normalise(frame[column], table.c[column].type)
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


def _python(value: Any) -> Any:
    """A plain Python value for the database driver (None for every missing marker)."""
    if _missing(value):
        return None
    if isinstance(value, pd.Timestamp):
        return value.date()
    if isinstance(value, np.generic):
        return value.item()
    return value


def _column_values(frame: pd.DataFrame, column: str, column_type: Any) -> list[Any]:
    series = frame[column]
    if isinstance(column_type, Date):
        return [None if pd.isna(v) else v.date() for v in series]
    return [_python(v) for v in series]


def _json_text(value: Any) -> str:
    return json.dumps(value, default=_json_default, separators=(",", ":"))


def _json_default(value: Any) -> Any:
    if isinstance(value, dt.date | Decimal):
        return str(value)
    raise TypeError(f"not JSON serialisable: {value!r}")


def _records(columns: list[str], values: list[list[Any]], count: int) -> list[str]:
    """One JSON object text per row, from column-wise values."""
    if not columns:
        return ["{}"] * count
    return [_json_text(dict(zip(columns, row, strict=True))) for row in zip(*values, strict=True)]


@dataclass(frozen=True)
class AuditContext:
    actor: str
    at: dt.datetime
    batch_pk: int | None
    effective: dt.date | None = None  # the business date changes take effect (default: today)

    @property
    def today(self) -> dt.date:
        """The effective date, else the local calendar date of the user's machine."""
        return self.effective or dt.date.today()


def apply(session: Session, plan: ChangePlan, audit: AuditContext) -> None:
    """Write the plan's inserts and updates and one audit row for each."""
    spec, table = plan.spec, plan.spec.table
    columns = [*spec.key, *spec.values]
    types = {c: table.c[c].type for c in columns}
    audit_rows: list[tuple] = []
    if len(plan.inserts):
        values = [_column_values(plan.inserts, c, types[c]) for c in columns]
        stored = [[_json_text(v) if isinstance(types[c], JSON) else v for v in col]
                  for c, col in zip(columns, values, strict=True)]
        insert_rows(session, table, columns, list(zip(*stored, strict=True)))
        count = len(plan.inserts)
        keys = _records(list(spec.audit_key),
                        [_column_values(plan.inserts, c, None) for c in spec.audit_key], count)
        after = _records(list(spec.values), values[len(spec.key):], count)
        audit_rows += [(audit.at, audit.actor, audit.batch_pk, AuditAction.INSERT.value,
                        table.name, k, None, a, s)
                       for k, a, s in zip(keys, after, plan.inserts[SOURCE], strict=True)]
    if len(plan.updates):
        values = [_column_values(plan.updates, c, types[c]) for c in spec.values]
        before = [_column_values(plan.updates, f"before_{c}", types[c]) for c in spec.values]
        pks = plan.updates["_pk"].astype("int64").tolist()
        update_rows(session, table, list(spec.values), list(zip(pks, *values, strict=True)))
        count = len(plan.updates)
        keys = _records(list(spec.audit_key),
                        [_column_values(plan.updates, c, None) for c in spec.audit_key], count)
        audit_rows += [(audit.at, audit.actor, audit.batch_pk, AuditAction.UPDATE.value,
                        table.name, k, b, a, s)
                       for k, b, a, s in zip(keys, _records(list(spec.values), before, count),
                                             _records(list(spec.values), values, count),
                                             plan.updates[SOURCE], strict=True)]
    if plan.deletes is not None and len(plan.deletes):
        audit_rows += _delete(session, plan, audit)
    write_audit(session, audit_rows)


def _delete(session: Session, plan: ChangePlan, audit: AuditContext) -> list[tuple]:
    spec, table, gone = plan.spec, plan.spec.table, plan.deletes
    session.connection().execute(table.delete().where(
        table.c.id.in_(bindparam("pks", expanding=True))),
        {"pks": gone["_pk"].astype("int64").tolist()})
    count = len(gone)
    types = {c: table.c[c].type for c in spec.values}
    keys = _records(list(spec.audit_key), [_column_values(gone, c, None)
                                           for c in spec.audit_key], count)
    before = _records(list(spec.values), [_column_values(gone, c, types[c])
                                          for c in spec.values], count)
    return [(audit.at, audit.actor, audit.batch_pk, AuditAction.DELETE.value, table.name, k,
             b, None, f"{source} (absent from this transfer)")
            for k, b, source in zip(keys, before, gone[SOURCE], strict=True)]


AUDIT_COLUMNS = ("at", "actor", "batch_pk", "action", "entity", "entity_key", "before",
                 "after", "source")


def write_audit(session: Session, rows: list[tuple]) -> None:
    """Append audit rows (tuples in AUDIT_COLUMNS order, JSON fields as text)."""
    insert_rows(session, AuditEntry.__table__, AUDIT_COLUMNS, rows)


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
        rows = self.session.execute(statement).all()
        return pd.DataFrame(rows, columns=["id", *spec.key])
