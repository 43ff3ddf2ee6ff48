"""The audit trail for writes made through the ORM.

Bulk imports write their audit rows themselves (:mod:`planner.importing.sync`);
everything written through a Session's unit of work is caught here, in
``before_flush``, with the column values before and after.
"""

from __future__ import annotations

import datetime as dt
import json
from decimal import Decimal
from typing import Any

from sqlalchemy import event, inspect
from sqlalchemy.orm import Session

from planner.domain import AuditAction
from planner.payment_tables import ReconciliationRun
from planner.tables import (
    AuditEntry,
    Base,
    ForecastRun,
    ImportBatch,
    RebalanceRun,
    StaffingRun,
)

# append-only records of who did what themselves; the rows they change are audited
# computed runs are outputs, not the plan of record; an approved payment run is audited
NOT_AUDITED = (AuditEntry, ImportBatch, ForecastRun, RebalanceRun, StaffingRun,
               ReconciliationRun)
ACTOR_KEY = "actor"


def _plain(value: Any) -> Any:
    if isinstance(value, dt.date | Decimal):
        return str(value)
    if hasattr(value, "value") and isinstance(value.value, str):
        return value.value  # StrEnum members
    return value


REDACTED = "(redacted)"


def _shown(obj: Base, key: str, value: Any) -> Any:
    """A column's value as the audit log keeps it: secrets (a table's
    ``__audit_redacted__`` columns, such as password hashes) are never copied."""
    return REDACTED if key in getattr(obj, "__audit_redacted__", ()) else _plain(value)


def _columns(obj: Base) -> dict[str, Any]:
    mapper = inspect(obj).mapper
    return {attr.key: _shown(obj, attr.key, getattr(obj, attr.key))
            for attr in mapper.column_attrs}


def _key(obj: Base) -> dict[str, Any]:
    identity = inspect(obj).identity
    if identity is not None:
        return {"id": identity[0] if len(identity) == 1 else list(identity)}
    return {k: v for k, v in _columns(obj).items() if k != "id"}


def _before(obj: Base) -> dict[str, Any]:
    state = inspect(obj)
    before = {}
    for attr in state.mapper.column_attrs:
        history = state.attrs[attr.key].history
        before[attr.key] = _shown(obj, attr.key, history.deleted[0] if history.deleted
                                  else getattr(obj, attr.key))
    return before


def _entry(session: Session, action: AuditAction, obj: Base, before: dict | None,
           after: dict | None) -> AuditEntry:
    return AuditEntry(at=dt.datetime.now(dt.UTC), actor=session.info.get(ACTOR_KEY, "system"),
                      batch_pk=session.info.get("batch_pk"), action=action,
                      entity=obj.__tablename__, entity_key=json.loads(json.dumps(_key(obj))),
                      before=before, after=after, source=session.info.get("source"))


@event.listens_for(Session, "before_flush")
def _audit_flush(session: Session, _context: Any, _instances: Any) -> None:
    entries = []
    for obj in session.new:
        if isinstance(obj, Base) and not isinstance(obj, NOT_AUDITED):
            entries.append(_entry(session, AuditAction.INSERT, obj, None, _columns(obj)))
    for obj in session.dirty:
        if (isinstance(obj, Base) and not isinstance(obj, NOT_AUDITED)
                and session.is_modified(obj, include_collections=False)):
            entries.append(_entry(session, AuditAction.UPDATE, obj, _before(obj), _columns(obj)))
    for obj in session.deleted:
        if isinstance(obj, Base) and not isinstance(obj, NOT_AUDITED):
            entries.append(_entry(session, AuditAction.DELETE, obj, _before(obj), None))
    session.add_all(entries)
