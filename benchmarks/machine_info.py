"""What every benchmark prints beside its figures: the machine, and warnings raised."""

from __future__ import annotations

import os
import platform
import subprocess
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]


def warning_summary(caught: list[warnings.WarningMessage]) -> str:
    """'none', or each distinct warning with its source line and count."""
    counts = pd.Series([f"{Path(w.filename).name}:{w.lineno} {w.category.__name__}: "
                        f"{w.message}" for w in caught]).value_counts()
    return "; ".join(f"{text} (x{n})" for text, n in counts.items()) or "none"


def machine(*extras: str) -> str:
    """OS, CPUs and model, load, Python and library versions, and the git commit."""
    cpu = next((line.split(":", 1)[1].strip() for line in
                Path("/proc/cpuinfo").read_text().splitlines()
                if line.startswith("model name")), platform.processor() or "?")
    try:
        commit = subprocess.run(["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"],
                                capture_output=True, text=True, check=True).stdout.strip()
        dirty = subprocess.run(["git", "-C", str(ROOT), "status", "--porcelain", "planner"],
                               capture_output=True, text=True, check=True).stdout.strip()
        commit += " (planner/ has uncommitted changes)" if dirty else ""
    except (OSError, subprocess.CalledProcessError):
        commit = "?"
    parts = [f"{platform.system()} {platform.machine()}, {len(os.sched_getaffinity(0))} CPUs "
             f"{cpu}, load {os.getloadavg()[0]:.2f}, Python {platform.python_version()}",
             f"numpy {np.__version__}", f"pandas {pd.__version__}", *extras, f"git {commit}"]
    return ", ".join(parts)
