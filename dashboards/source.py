"""The dashboards' one door to the store: read-only computations, cached per data version.

Every page asks :class:`StoreReader` for a computation's result by a key (what
and for which study, date, options). The result is computed in its own
read-only transaction and kept until the store changes: the version is the
newest id of every append-only record a change leaves behind (an import batch,
an audit entry, a run), so reading it costs a few index lookups, and a page
opened after an import or an approval never shows the figures from before.
Writes go through :meth:`StoreReader.write`, a transaction owned by the page's
action, audited as the logged-in user.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable, Iterator
from contextlib import contextmanager
from typing import Any, TypeVar

from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session

from planner.payment_tables import PaymentRun, ReconciliationRun
from planner.store import transaction
from planner.tables import AuditEntry, ForecastRun, ImportBatch, RebalanceRun, StaffingRun
from planner.user_tables import AppUser

T = TypeVar("T")
VERSIONED = (ImportBatch, AuditEntry, ForecastRun, RebalanceRun, StaffingRun, PaymentRun,
             ReconciliationRun, AppUser)
READER_ACTOR = "dashboards (read only)"
CACHE_SIZE = 128


def store_version(session: Session) -> tuple[int, ...]:
    """The newest id of each append-only record: any change to the store moves one."""
    return tuple(session.scalar(select(func.coalesce(func.max(table.id), 0)))
                 for table in VERSIONED)


class StoreReader:
    """Computations on the configured store, cached per (key, store version)."""

    def __init__(self, engine: Engine, cache_size: int = CACHE_SIZE) -> None:
        self.engine = engine
        self._cache: OrderedDict[Hashable, tuple[tuple[int, ...], Any]] = OrderedDict()
        self._cache_size = cache_size
        self._lock = threading.Lock()
        self.computed = 0  # computations run (not answered from the cache), for tests

    def read(self, key: Hashable, compute: Callable[[Session], T]) -> T:
        """``compute(session)``'s result for ``key``, from the cache when the store has not
        changed since it was computed. Nothing ``compute`` writes is kept."""
        with transaction(self.engine, READER_ACTOR, commit=False) as session:
            version = store_version(session)
            with self._lock:
                hit = self._cache.get(key)
                if hit is not None and hit[0] == version:
                    self._cache.move_to_end(key)
                    return hit[1]
            value = compute(session)
        with self._lock:
            self.computed += 1
            self._cache[key] = (version, value)
            self._cache.move_to_end(key)
            while len(self._cache) > self._cache_size:
                self._cache.popitem(last=False)
        return value

    @contextmanager
    def write(self, actor: str) -> Iterator[Session]:
        """A unit of work by ``actor`` (the logged-in user), committed on success."""
        with transaction(self.engine, actor) as session:
            yield session
