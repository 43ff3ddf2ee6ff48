"""NumPy's huge-page request is off while a rebalancing runs, and as it was afterwards."""

from __future__ import annotations

import threading

import numpy as np
import pytest

import optimizer.rebalance as rebalance_module
from optimizer.rebalance import RebalanceOptions, rebalance
from optimizer.small_pages import small_pages
from tests.optimizer.test_rebalance import case

SWITCH = np._core.multiarray._set_madvise_hugepage  # this NumPy has it (2.x)


def huge_pages_asked() -> bool:
    """Whether NumPy asks for huge pages now: its switch has no getter, so it is read by
    setting it and putting it back."""
    was = SWITCH(False)
    SWITCH(was)
    return bool(was)


@pytest.mark.parametrize("before", [True, False])
def test_small_pages_turns_the_request_off_and_puts_it_back(before: bool) -> None:
    was = SWITCH(before)
    try:
        with small_pages():
            assert huge_pages_asked() is False
            assert SWITCH(False) is False  # NumPy's own reading, not ours
        assert huge_pages_asked() is before
    finally:
        SWITCH(was)


def test_small_pages_puts_the_request_back_when_the_body_fails() -> None:
    was = SWITCH(True)
    try:
        with pytest.raises(ZeroDivisionError), small_pages():
            _ = 1 / 0
        assert huge_pages_asked() is True
    finally:
        SWITCH(was)


def test_two_callers_ending_in_either_order_keep_the_request_off_until_both_left() -> None:
    """A enters, B enters, A leaves first: B still runs without huge pages; the request
    comes back when B leaves (the simple save-and-restore turned it on under B)."""
    entered, a_left, b_may_leave = threading.Event(), threading.Event(), threading.Event()
    seen_by_b: list[bool] = []

    def caller_b() -> None:
        with small_pages():
            entered.set()
            a_left.wait(10.0)
            seen_by_b.append(huge_pages_asked())
            b_may_leave.wait(10.0)

    was = SWITCH(True)
    try:
        b = threading.Thread(target=caller_b)
        with small_pages():
            b.start()
            assert entered.wait(10.0)
        a_left.set()
        assert huge_pages_asked() is False  # B is still inside
        b_may_leave.set()
        b.join(10.0)
        assert seen_by_b == [False]
        assert huge_pages_asked() is True
    finally:
        b_may_leave.set()
        SWITCH(was)


def test_a_rebalancing_solves_without_huge_pages(monkeypatch: pytest.MonkeyPatch) -> None:
    """The real solve, watched: the request is off while the parts are solved and back on
    after the call."""
    seen: list[bool] = []
    solve = rebalance_module.solve_rebalancing

    def watched(*args: object) -> object:
        seen.append(huge_pages_asked())
        return solve(*args)

    monkeypatch.setattr(rebalance_module, "solve_rebalancing", watched)
    was = SWITCH(True)
    try:
        result = rebalance(case(), RebalanceOptions(max_moves=3, time_limit=30))
        assert huge_pages_asked() is True
    finally:
        SWITCH(was)
    assert seen == [False]
    assert len(result.moves) == 1
