"""The demo store every demo test copies: built once per test run, whatever the workers.

``python -m tests.demo_store FOLDER`` builds it in FOLDER (a parallel run starts this in
the background as soon as its first worker has collected a test that needs the store);
:func:`demo_store` is what the ``demo_template`` fixture calls. Both build under the same
file lock and leave either the finished store (marked built) or the failure's output, so
whoever comes second reads the one result and never builds again.
"""

from __future__ import annotations

import fcntl
import sys
from pathlib import Path

BUILT, FAILED, LOCK, STORE = "built", "failed", "lock", "demo.db"


class DemoBuildError(RuntimeError):
    """`trialplan demo` failed; the message is its output."""


def demo_store(folder: Path) -> Path:
    """The demo store in ``folder``: built by this call unless already built (or failed)."""
    folder.mkdir(parents=True, exist_ok=True)
    path, failed = folder / STORE, folder / FAILED
    with (folder / LOCK).open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # released when the file closes
        if failed.exists():
            raise DemoBuildError(failed.read_text())
        if not (folder / BUILT).exists():
            from tests.trialplan.cli_runner import trialplan  # imports the whole CLI

            for leftover in folder.glob(f"{STORE}*"):  # a killed build's file, -wal, -shm
                leftover.unlink()
            result = trialplan(f"sqlite:///{path}", "demo")
            if result.exit_code != 0:
                failed.write_text(result.output)
                raise DemoBuildError(result.output)
            (folder / BUILT).touch()
    return path


if __name__ == "__main__":
    try:
        demo_store(Path(sys.argv[1]))
    except DemoBuildError as exc:  # the fixture raises it again, with the same output
        print(exc, file=sys.stderr)
        sys.exit(1)
