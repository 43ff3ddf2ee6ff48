"""NumPy's large arrays on ordinary pages while a rebalancing runs.

On Linux NumPy asks the kernel for transparent huge pages on every array of 4 MB
and more (``madvise(MADV_HUGEPAGE)``). Where the kernel's huge-page ``defrag``
setting is ``madvise`` (Debian's default), each first touch of such memory may
wait for the kernel to compact memory into a 2 MB page. A rebalancing at CRO scale
makes its pairs in arrays of millions of rows once: at 2,000 CRAs × 20,000 sites
``eligible_pairs`` took 1.0–1.5 s the first time in a process with huge pages and
0.37–0.39 s without (0.3 s either way once the memory was the process's own), and
the whole set-up before the first part 0.45–0.9 s less (benchmarks/README.md,
session 22). Those arrays are read a few times each, so huge pages buy nothing back.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import numpy as np


def _switch() -> Callable[[bool], bool] | None:
    """NumPy's switch for huge pages (``_set_madvise_hugepage``: sets it, returns what it
    was), or None where this NumPy has none (then there is nothing to turn off)."""
    multiarray = getattr(getattr(np, "_core", None), "multiarray", None)
    return getattr(multiarray, "_set_madvise_hugepage", None)


class _Holders:
    """How many callers are inside :func:`small_pages` and what the switch was before the
    first of them: rebalancings in two threads (a web server's sessions) may end in any
    order, and the first to end must not turn huge pages back on under the other."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.count = 0
        self.before = True  # (set by the first caller in)


_HOLDERS = _Holders()


@contextmanager
def small_pages() -> Iterator[None]:
    """NumPy asks for no huge pages inside; as before once the last caller inside has left.
    The switch is the process's: arrays other threads allocate meanwhile get ordinary
    pages too."""
    switch = _switch()
    if switch is None:
        yield
        return
    with _HOLDERS.lock:
        if _HOLDERS.count == 0:
            _HOLDERS.before = switch(False)
        _HOLDERS.count += 1
    try:
        yield
    finally:
        with _HOLDERS.lock:
            _HOLDERS.count -= 1
            if _HOLDERS.count == 0:
                switch(_HOLDERS.before)
