"""The demo store every demo test copies: built once per test run, whatever the workers.

``python -m tests.demo_store FOLDER`` builds it in FOLDER (the controller of a parallel
run starts this at the session's start, so the store is ready by the time a worker's
test asks for it); :func:`demo_store` is what the ``demo_template`` fixture calls. Both
build under the same file lock and mark the store built, so whoever comes second reads
the finished file.
"""

from __future__ import annotations

import fcntl
import sys
from pathlib import Path

BUILT, LOCK, STORE = "built", "lock", "demo.db"


class DemoBuildError(RuntimeError):
    """`trialplan demo` failed; the message is its output."""


def demo_store(folder: Path) -> Path:
    """The demo store in ``folder``: built by this call unless already built."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / STORE
    with (folder / LOCK).open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # released when the file closes
        if not (folder / BUILT).exists():
            from tests.trialplan.cli_runner import trialplan  # imports the whole CLI

            path.unlink(missing_ok=True)  # a failed build's leftovers
            result = trialplan(f"sqlite:///{path}", "demo")
            if result.exit_code != 0:
                raise DemoBuildError(result.output)
            (folder / BUILT).touch()
    return path


if __name__ == "__main__":
    try:
        demo_store(Path(sys.argv[1]))
    except DemoBuildError as exc:  # the fixture builds again and fails with the output
        print(exc, file=sys.stderr)
        sys.exit(1)
