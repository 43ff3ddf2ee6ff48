"""The dashboards' one door to the store: read-only computations, cached per data version.

Every page asks :class:`StoreReader` for a computation's result by a key (what
and for which study, date, options). The result is computed in its own
read-only transaction and kept until the store changes: the version is the
newest id of every append-only record a change leaves behind (an import batch,
an audit entry, a run), so reading it costs a few index lookups, and a page
opened after an import or an approval never shows the figures from before.
Writes go through :meth:`StoreReader.write`, a transaction owned by the page's
action, audited as the logged-in user.

Prefetching (guessing what a user opens next) runs in a child process at the
lowest CPU priority: computed in the server's own process, a guess held the
interpreter lock and a core while the page a user had just asked for was being
built and drawn. A job whose computation does not pickle, or a store only this
process can see (in-memory SQLite), is computed on the worker thread instead.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import logging
import multiprocessing
import os
import pickle
import queue
import signal
import sys
import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable, Iterator, Sequence
from concurrent.futures import Future, ProcessPoolExecutor
from contextlib import contextmanager
from typing import Any, TypeVar

from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session

from planner.payment_tables import PaymentRun, ReconciliationRun
from planner.store import make_engine, transaction
from planner.tables import AuditEntry, ForecastRun, ImportBatch, RebalanceRun, StaffingRun
from planner.user_tables import AppUser

T = TypeVar("T")
log = logging.getLogger("trialplan.dashboards")
Job = tuple[Hashable, Callable[[Session], Any]]
VERSIONED = (ImportBatch, AuditEntry, ForecastRun, RebalanceRun, StaffingRun, PaymentRun,
             ReconciliationRun, AppUser)
READER_ACTOR = "dashboards (read only)"
CACHE_SIZE = 128
PR_SET_PDEATHSIG = 1  # linux/prctl.h


def store_version(session: Session) -> tuple[int, ...]:
    """The newest id of each append-only record: any change to the store moves one."""
    return tuple(session.scalar(select(func.coalesce(func.max(table.id), 0)))
                 for table in VERSIONED)


class StoreReader:
    """Computations on the configured store, cached per (key, store version)."""

    def __init__(self, engine: Engine, cache_size: int = CACHE_SIZE,
                 prefetch: bool = True) -> None:
        self.engine = engine
        self.prefetching = prefetch  # False: prefetch() does nothing
        # False: prefetched jobs are computed on the worker thread, in this process
        self._apart = _shareable(engine)
        self._pool: ProcessPoolExecutor | None = None  # started with the first job apart
        self.computed_apart = 0  # prefetched results computed in the child process
        self._cache: OrderedDict[Hashable, tuple[tuple[int, ...], Any]] = OrderedDict()
        self._cache_size = cache_size
        self._lock = threading.Lock()
        self.computed = 0  # computations run (not answered from the cache), for tests
        # one background worker: prefetching never takes more than one core from the pages;
        # a daemon thread, so a stopping server does not wait for guesses
        self._jobs: queue.SimpleQueue[tuple[Future, Callable[[], Any]] | None] = \
            queue.SimpleQueue()
        self._queued: set[Hashable] = set()
        self._running: dict[Hashable, Future] = {}  # keys being computed, by any thread
        self._worker = threading.Thread(target=self._work, name="dashboards-prefetch",
                                        daemon=True)
        self._worker.start()

    def _work(self) -> None:
        while (job := self._jobs.get()) is not None:
            future, work = job
            if future.set_running_or_notify_cancel():
                try:
                    future.set_result(work())
                except BaseException as exc:  # noqa: BLE001 - handed to the future
                    future.set_exception(exc)

    def read(self, key: Hashable, compute: Callable[[Session], T], apart: bool = False) -> T:
        """``compute(session)``'s result for ``key``, from the cache when the store has not
        changed since it was computed; when another thread (the prefetcher, another
        user's page) is computing it already, its result. Nothing ``compute`` writes is
        kept. ``apart``: compute it in the prefetch process when it pickles."""
        while True:
            with transaction(self.engine, READER_ACTOR, commit=False) as session:
                version = store_version(session)
                with self._lock:
                    hit = self._cache.get(key)
                    if hit is not None and hit[0] == version:
                        self._cache.move_to_end(key)
                        return hit[1]
                    running = self._running.get(key)
                    if running is None:
                        running = self._running[key] = Future()
                        break
            running.exception()  # wait for the other computation, then look again
        try:
            value = self._compute_apart(compute) if apart else self._compute(compute)
        finally:
            with self._lock:
                del self._running[key]
            running.set_result(None)
        with self._lock:
            self.computed += 1
            self._cache[key] = (version, value)
            self._cache.move_to_end(key)
            while len(self._cache) > self._cache_size:
                self._cache.popitem(last=False)
        return value

    def _compute(self, compute: Callable[[Session], T]) -> T:
        with transaction(self.engine, READER_ACTOR, commit=False) as session:
            return compute(session)

    def _compute_apart(self, compute: Callable[[Session], T]) -> T:
        """``compute`` in the prefetch process (started on first use), waiting without
        the interpreter lock; here when it cannot go there."""
        if not self._apart:
            return self._compute(compute)
        try:
            pickle.dumps(compute)
        except (pickle.PicklingError, AttributeError, TypeError):
            return self._compute(compute)
        with self._lock:
            if self._pool is None:
                url = self.engine.url.render_as_string(hide_password=False)
                self._pool = ProcessPoolExecutor(
                    max_workers=1, mp_context=multiprocessing.get_context("spawn"),
                    initializer=_start_child, initargs=(url, os.getpid()))
            pool = self._pool
        value = pool.submit(_compute_in_child, compute).result()
        with self._lock:
            self.computed_apart += 1
        return value

    def cached(self, key: Hashable) -> bool:
        """Whether ``key`` has a result computed at the store's current version."""
        with transaction(self.engine, READER_ACTOR, commit=False) as session:
            version = store_version(session)
        with self._lock:
            hit = self._cache.get(key)
        return hit is not None and hit[0] == version

    def prefetch(self, jobs: Sequence[Job]) -> list[Future]:
        """Compute ``jobs`` (key, compute) in the background, in order, each unless already
        cached or queued: what a user is likely to ask next is ready when asked. A job
        that fails is logged and left to fail again, with its message, when asked."""
        futures: list[Future] = []
        if not self.prefetching:
            return futures
        for key, compute in jobs:
            with self._lock:
                if key in self._queued:
                    continue
                self._queued.add(key)
            futures.append(self.in_background(
                lambda key=key, compute=compute: self._prefetch_one(key, compute)))
        return futures

    def in_background(self, work: Callable[[], Any]) -> Future:
        """Run ``work`` on the prefetch worker, after what is queued already."""
        future: Future = Future()
        self._jobs.put((future, work))
        return future

    def _prefetch_one(self, key: Hashable, compute: Callable[[Session], Any]) -> None:
        try:
            self.read(key, compute, apart=True)
        except Exception:  # noqa: BLE001 - the page computes it again and shows why
            log.info("prefetch of %s failed; the page will show why", key, exc_info=True)
        finally:
            with self._lock:
                self._queued.discard(key)

    def close(self) -> None:
        """Stop the prefetch worker after the job it is running (queued jobs are dropped)."""
        while True:
            try:
                job = self._jobs.get_nowait()
            except queue.Empty:
                break
            if job is not None:
                job[0].cancel()
        self._jobs.put(None)
        with self._lock:
            pool, self._pool, self._apart = self._pool, None, False
        if pool is not None:
            pool.shutdown(wait=False, cancel_futures=True)

    @contextmanager
    def write(self, actor: str) -> Iterator[Session]:
        """A unit of work by ``actor`` (the logged-in user), committed on success."""
        with transaction(self.engine, actor) as session:
            yield session


def _shareable(engine: Engine) -> bool:
    """Whether another process can open the same store (not an in-memory SQLite one)."""
    return not (engine.dialect.name == "sqlite" and engine.url.database in (None, "", ":memory:"))


_child_engine: Engine | None = None


def _start_child(url: str, server_pid: int) -> None:
    """The prefetch process: the lowest CPU priority, so the pages and the browser go
    first, and its own engine on the same store. It ends with the server, even when the
    server is killed (on Linux; elsewhere it ends after the guess it is computing)."""
    global _child_engine
    os.nice(19)
    _end_with_parent(server_pid)
    _child_engine = make_engine(url)


def _end_with_parent(parent_pid: int) -> None:
    """Ask Linux to send this process SIGTERM when its parent dies (prctl
    PR_SET_PDEATHSIG): an orphaned guess would otherwise run on for minutes."""
    if not sys.platform.startswith("linux"):
        return
    libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
    if libc.prctl(PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0) != 0:
        log.info("prefetch process: prctl failed (errno %s)", ctypes.get_errno())
    if os.getppid() != parent_pid:  # the parent died before the request: end now
        os._exit(0)


def _compute_in_child(compute: Callable[[Session], T]) -> T:
    if _child_engine is None:
        raise RuntimeError("the prefetch process was not started with a store")
    with transaction(_child_engine, READER_ACTOR, commit=False) as session:
        return compute(session)
