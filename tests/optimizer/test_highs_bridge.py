"""The HiGHS bridge's process-level helpers: the thread a HiGHS run is on can be handed the
lowest CPU priority once it will not stop when asked."""

from __future__ import annotations

import os
import sys
import threading
from concurrent.futures import ThreadPoolExecutor

import highspy
import pytest

from optimizer.highs_bridge import in_yielding_thread, yield_cpu


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="per-thread nice is Linux's")
def test_a_thread_left_to_run_gets_the_lowest_priority_and_the_caller_keeps_its_own() -> None:
    release = threading.Event()
    ids: list[int] = []
    with ThreadPoolExecutor(max_workers=1) as pool:
        running = pool.submit(in_yielding_thread, ids, lambda: release.wait(10.0))
        for _ in range(500):
            if ids:
                break
            threading.Event().wait(0.01)
        assert ids and ids[0] != threading.get_native_id()
        before = os.getpriority(os.PRIO_PROCESS, ids[0])
        if before == 19:
            release.set()
            pytest.skip("the suite itself runs at the lowest priority")
        yield_cpu(ids)
        assert os.getpriority(os.PRIO_PROCESS, ids[0]) == 19 != before
        assert os.getpriority(os.PRIO_PROCESS, threading.get_native_id()) == before
        release.set()
        assert running.result() is True  # the run's own result comes back


def test_a_thread_that_ended_meanwhile_is_no_error() -> None:
    ids: list[int] = []
    with ThreadPoolExecutor(max_workers=1) as pool:
        assert pool.submit(in_yielding_thread, ids, lambda: 7).result() == 7
    yield_cpu([*ids, 2**22 + 12345])  # ended, and an id no thread has


def test_a_run_with_the_default_thread_count_keeps_the_pool_for_the_next() -> None:
    """The pool rebuilt for a one-thread search, a run with no thread count asked (a plain
    model's solve), then a one-thread run: HiGHS's own default once sized the process's pool to
    two threads behind the bookkeeping, and the last run failed with kError. Each
    run here solves x + y ≥ 1, min x + 2y: 1 at x = 1."""
    from optimizer.highs_bridge import quiet_highs, set_threads, size_pool

    def solved(threads: int | None) -> float:
        h = quiet_highs()
        h.addVars(2, [0.0, 0.0], [1.0, 1.0])
        h.changeColsCost(2, [0, 1], [1.0, 2.0])
        h.addRow(1.0, float("inf"), 2, [0, 1], [1.0, 1.0])
        set_threads(h, threads)
        assert h.run() == highspy.HighsStatus.kOk
        return h.getInfo().objective_function_value

    size_pool(2)
    size_pool(1)  # rebuilt for one thread, as before a search: no run yet
    assert solved(None) == pytest.approx(1.0)
    assert solved(1) == pytest.approx(1.0)
    size_pool(2)
    size_pool(1)
    assert solved(1) == pytest.approx(1.0)
    assert solved(None) == pytest.approx(1.0)
    assert solved(1) == pytest.approx(1.0)
