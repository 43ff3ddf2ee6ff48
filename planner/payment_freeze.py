"""Approved payment runs are frozen: their rows are never updated or deleted.

A run is stored only when it is approved, so every ``payment_run`` and
``payment_line`` row is final; a correction is a new run. Enforced in the ORM,
for every session of the process once this module is imported:

* ``before_update`` / ``before_delete`` mapper events refuse a flush that would
  change or delete a loaded run or line (an object that is merely touched, with
  no net change, passes);
* a ``do_orm_execute`` session event refuses ORM-enabled bulk ``update()`` /
  ``delete()`` statements aimed at the two tables.

Not covered (by design, documented in docs/SITE_PAYMENTS.md): raw SQL on a bare
connection, and the database's own cascade when a whole study or site is deleted.
The repository (``contracts.payment_runs``) offers no update or delete at all.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import event
from sqlalchemy.orm import Mapper, ORMExecuteState, Session, object_session

from planner.payment_tables import PaymentLine, PaymentRun

FROZEN = (PaymentRun, PaymentLine)


class FrozenRunError(RuntimeError):
    """An attempt to change or delete an approved payment run or one of its lines."""


def _describe(target: Any) -> str:
    if isinstance(target, PaymentRun):
        return f"payment run {target.id}"
    return f"line {target.id} of payment run {target.run_pk}"


def _refuse_update(_mapper: Mapper, _connection: Any, target: Any) -> None:
    session = object_session(target)
    if session is None or session.is_modified(target, include_collections=False):
        raise FrozenRunError(f"{_describe(target)} is approved and frozen: it cannot be "
                             "changed; make a correction as a new payment run")


def _refuse_delete(_mapper: Mapper, _connection: Any, target: Any) -> None:
    raise FrozenRunError(f"{_describe(target)} is approved and frozen: it cannot be "
                         "deleted; make a correction as a new payment run")


for _frozen in FROZEN:
    event.listen(_frozen, "before_update", _refuse_update)
    event.listen(_frozen, "before_delete", _refuse_delete)


@event.listens_for(Session, "do_orm_execute")
def _refuse_bulk_changes(state: ORMExecuteState) -> None:
    if not (state.is_update or state.is_delete):
        return
    mappers = [state.bind_mapper, *state.all_mappers]
    tables = sorted({m.class_.__tablename__ for m in mappers
                     if m is not None and issubclass(m.class_, FROZEN)})
    if tables:
        verb = "update" if state.is_update else "delete"
        raise FrozenRunError(f"approved payment runs are frozen: a bulk {verb} of "
                             f"{', '.join(tables)} is refused; make a correction as a new "
                             "payment run")
