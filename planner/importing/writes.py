"""Writing a change plan: inserts, updates and deletes, each with its audit row.

Values are converted column by column (never value by value in Python where
pandas or numpy can do it): a million visits and their million audit rows
are the scale this has to carry.
"""

from __future__ import annotations

import datetime as dt
import json
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from decimal import Decimal
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
from sqlalchemy import JSON, Boolean, Date, Float, Integer, bindparam, select
from sqlalchemy.orm import Session

from planner.bulk import Constant, insert_columns, update_rows
from planner.domain import AuditAction
from planner.tables import AuditEntry

if TYPE_CHECKING:
    from planner.importing.sync import ChangePlan

SOURCE = "_source"  # column with "file, row N" for every incoming row


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


def db_values(series: pd.Series, column_type: Any) -> np.ndarray:
    """A column as plain Python values for a bulk insert: dates as ISO text, None for NA."""
    if isinstance(column_type, Date):
        days = pd.to_datetime(series).to_numpy().astype("datetime64[D]")
        text = np.datetime_as_string(days).astype(object)
        text[np.isnat(days)] = None
        return text
    if isinstance(column_type, Integer | Float | Boolean):
        return series.to_numpy(dtype=object, na_value=None)
    values = series.to_numpy(dtype=object)
    return np.where(pd.isna(series).to_numpy(), None, values) if len(values) else values


def orm_values(series: pd.Series, column_type: Any) -> list[Any]:
    """A column as SQLAlchemy binds it (dates as ``date``), for updates."""
    if isinstance(column_type, Date):
        return [None if pd.isna(v) else v.date() for v in pd.to_datetime(series)]
    return db_values(series, column_type).tolist()


def _json_default(value: Any) -> Any:
    if isinstance(value, dt.date | Decimal):
        return str(value)
    if isinstance(value, np.generic):
        return value.item()
    raise TypeError(f"not JSON serialisable: {value!r}")


_ENCODE = json.JSONEncoder(separators=(",", ":"), default=_json_default).encode


def json_fragments(values: np.ndarray | list[Any]) -> np.ndarray:
    """Each value as JSON text; each distinct value is encoded once."""
    values = pd.Series(values, dtype=object)
    try:
        codes, uniques = pd.factorize(values, use_na_sentinel=True)
    except TypeError:  # unhashable values (lists): encode one by one
        return np.array([_ENCODE(v) for v in values], dtype=object)
    encoded = np.array([*(_ENCODE(u) for u in uniques), "null"], dtype=object)
    return encoded[codes]


def json_objects(columns: dict[str, np.ndarray | list[Any]], count: int) -> np.ndarray:
    """One JSON object text per row, built column-wise (same text as json.dumps)."""
    if not columns:
        return np.full(count, "{}", dtype=object)
    template = "{{" + ",".join(json.dumps(name).replace("{", "{{").replace("}", "}}") + ":{}"
                               for name in columns) + "}}"
    fragments = [json_fragments(values).tolist() for values in columns.values()]
    return np.array([template.format(*row) for row in zip(*fragments, strict=True)],
                    dtype=object)


def _audit(audit: AuditContext, action: AuditAction, entity: str, keys: np.ndarray,
           before: np.ndarray | None, after: np.ndarray | None, sources: Any) -> dict:
    count = len(keys)
    return {"at": Constant(audit.at), "actor": Constant(audit.actor),
            "batch_pk": Constant(audit.batch_pk), "action": Constant(action.value),
            "entity": Constant(entity), "entity_key": keys,
            "before": before if before is not None else Constant(None),
            "after": after if after is not None else Constant(None),
            "source": np.asarray(sources, dtype=object)[:count]}


def _keys(plan_frame: pd.DataFrame, audit_key: tuple[str, ...]) -> np.ndarray:
    return json_objects({c: db_values(plan_frame[c], None) for c in audit_key},
                        len(plan_frame))


# a reference to another table is audited by that row's natural id, not its surrogate key
READABLE_REFERENCES = {"sponsor": ("sponsor", "name"), "study": ("study_id", "study_id"),
                       "site": ("site_id", "site_id"), "staff": ("staff_id", "staff_id"),
                       "subject": ("subject_id", "subject_id")}


def _readable(session: Session, table: Any, columns: dict[str, Any]) -> dict[str, Any]:
    """The audit's view of value columns: foreign keys replaced by the natural ids."""
    out: dict[str, Any] = {}
    for name, values in columns.items():
        keys = list(table.c[name].foreign_keys)
        target = keys[0].column.table if keys else None
        if target is None or target.name not in READABLE_REFERENCES:
            out[name] = values
            continue
        label, column = READABLE_REFERENCES[target.name]
        pks = sorted({int(v) for v in values if v is not None})
        names = dict(session.connection().execute(
            select(target.c.id, target.c[column]).where(target.c.id.in_(pks))).all())
        out[label] = [None if v is None else names.get(int(v)) for v in values]
    return out


def apply(session: Session, plan: ChangePlan, audit: AuditContext) -> None:
    """Write the plan's inserts, updates and deletes, and one audit row for each."""
    spec, table = plan.spec, plan.spec.table
    types = {c: table.c[c].type for c in (*spec.key, *spec.values)}
    if len(plan.inserts):
        values = {c: db_values(plan.inserts[c], types[c]) for c in types}
        stored = {c: (np.array([None if v is None else _ENCODE(v) for v in col], dtype=object)
                      if isinstance(types[c], JSON) else col) for c, col in values.items()}

        shown = _readable(session, table, {c: values[c] for c in spec.values})

        def audit_rows() -> dict:
            after = json_objects(shown, len(plan.inserts))
            return _audit(audit, AuditAction.INSERT, str(table.name),
                          _keys(plan.inserts, spec.audit_key), None, after,
                          plan.inserts[SOURCE])

        # the audit text is built on the other core while the database takes the rows
        with ThreadPoolExecutor(max_workers=1) as pool:
            pending = pool.submit(audit_rows)
            insert_columns(session, table, stored)
            write_audit(session, pending.result())
    if len(plan.updates):
        new = {c: orm_values(plan.updates[c], types[c]) for c in spec.values}
        old = {c: orm_values(plan.updates[f"before_{c}"], types[c]) for c in spec.values}
        pks = plan.updates["_pk"].astype("int64").tolist()
        update_rows(session, table, list(spec.values),
                    list(zip(pks, *new.values(), strict=True)))
        count = len(plan.updates)
        write_audit(session, _audit(audit, AuditAction.UPDATE, str(table.name),
                                    _keys(plan.updates, spec.audit_key),
                                    json_objects(_readable(session, table, old), count),
                                    json_objects(_readable(session, table, new), count),
                                    plan.updates[SOURCE]))
    if plan.deletes is not None and len(plan.deletes):
        _delete(session, plan, audit)


def _delete(session: Session, plan: ChangePlan, audit: AuditContext) -> None:
    spec, table, gone = plan.spec, plan.spec.table, plan.deletes
    session.connection().execute(table.delete().where(
        table.c.id.in_(bindparam("pks", expanding=True))),
        {"pks": gone["_pk"].astype("int64").tolist()})
    before = json_objects(_readable(session, table, {c: db_values(gone[c], table.c[c].type)
                                                     for c in spec.values}), len(gone))
    sources = gone[SOURCE].astype(str) + " (absent from this transfer)"
    write_audit(session, _audit(audit, AuditAction.DELETE, str(table.name),
                                _keys(gone, spec.audit_key), before, None, sources))


def write_audit(session: Session, columns: dict) -> None:
    """Append audit rows given column-wise (JSON fields as text)."""
    insert_columns(session, AuditEntry.__table__, columns)
