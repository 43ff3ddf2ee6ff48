"""What every stored solver run shares: the inputs' digest and the run's common fields.

A run is traceable when it keeps the SHA-256 of exactly what went in (every input
frame sorted and written as text, and the options as sorted JSON) beside the
solver's figures; equal digests mean equal inputs.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import math
from collections.abc import Iterable
from typing import Any

import pandas as pd


def _canonical(frame: pd.DataFrame) -> str:
    columns = sorted(frame.columns)
    return frame[columns].astype(str).sort_values(columns).to_csv(index=False)


def inputs_digest(frames: Iterable[pd.DataFrame], options: dict[str, Any]) -> str:
    """SHA-256 of the frames (sorted, as text) and the options (sorted JSON)."""
    digest = hashlib.sha256()
    for frame in frames:
        digest.update(_canonical(frame).encode())
    digest.update(json.dumps(options, sort_keys=True).encode())
    return digest.hexdigest()


def _finite(value: float | None) -> float | None:
    return None if value is None or not math.isfinite(value) else float(value)


def run_fields(document: dict[str, Any], options: dict[str, Any], digest: str,
               as_of: dt.date, actor: str) -> dict[str, Any]:
    """The columns every run table has, from the run's --json document."""
    return {"at": dt.datetime.now(dt.UTC), "actor": actor, "as_of": as_of,
            "inputs_sha256": digest, "options": options, "status": document["status"],
            "objective": document["objective"], "bound": _finite(document["bound"]),
            "gap": _finite(document["gap"]),
            "timings": {"build": document["build_seconds"],
                        "solve": document["solve_seconds"]},
            "result": document}
