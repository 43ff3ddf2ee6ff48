"""optimizer.lookup: values by key for many rows, as ``Series.map`` gives them."""

from __future__ import annotations

import numpy as np
import pandas as pd

from optimizer.lookup import lookup


def test_lookup_gives_what_map_gives_with_missing_keys_filled() -> None:
    table = pd.Series({"S1": "C2", "S2": None, "S3": "C1"})
    keys = pd.Series(["S3", "S1", "S9", "S2", "S3"])
    found = [None if pd.isna(v) else v for v in lookup(table, keys)]
    assert found == ["C1", "C2", None, None, "C1"]
    assert [None if pd.isna(v) else v for v in keys.map(table)] == found


def test_lookup_of_numbers_fills_missing_with_the_given_value() -> None:
    trips = pd.Series([4.0, 2.5], index=["A", "B"])
    assert np.array_equal(lookup(trips, np.array(["B", "Z", "A"]), 0.0), [2.5, 0.0, 4.0])
    assert lookup(trips, pd.Series(["A", "B"])).dtype == np.float64
