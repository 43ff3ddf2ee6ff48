"""A reconciliation as the CLI's JSON (issue 5: ``trialplan reconcile STUDY --json``).

Why a separate step: the frames keep integer minor units for exact arithmetic;
at the edge every amount becomes a decimal string with its currency's decimals
(``contracts.minor.from_minor``), so no reader ever parses money through a float.
"""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from contracts.minor import from_minor

if TYPE_CHECKING:
    from contracts.reconcile import Reconciliation


def _amounts(minor: pd.Series, currency: pd.Series) -> list[str | None]:
    """Decimal strings of minor units, None where missing; from_minor once per distinct pair."""
    pairs = pd.DataFrame({"minor": minor.astype("Int64"), "currency": currency.astype(object)})
    known = pairs["minor"].notna().to_numpy() & pairs["currency"].notna().to_numpy()
    distinct = pairs[known].drop_duplicates()
    text = {(int(m), c): str(from_minor(int(m), c))
            for m, c in zip(distinct["minor"], distinct["currency"], strict=True)}
    values = pairs["minor"].to_numpy(dtype=object, na_value=None)
    return [text[(int(m), c)] if ok else None
            for m, c, ok in zip(values, pairs["currency"], known, strict=True)]


def _texts(values: pd.Series) -> list[str | None]:
    return values.astype(object).where(values.notna(), None).tolist()


def _by_currency(sums: dict[str, int]) -> dict[str, str]:
    return {cur: str(from_minor(value, cur)) for cur, value in sums.items()}


def reconciliation_json(rec: Reconciliation, study_id: str) -> dict[str, Any]:
    """``{"study_id", "lines", "accruals", "totals"}`` for one study, amounts as strings.

    Totals are per currency: ``invoiced`` and ``earned`` map currency → amount,
    ``by_status`` maps each status → {currency → amount}. ``expected`` and
    ``difference`` are null for a wrong-currency line.
    """
    lines = rec.lines[(rec.lines["study_id"] == study_id).fillna(False)]
    items = rec.items[(rec.items["study_id"] == study_id).fillna(False)]
    totals = dataclasses.replace(rec, lines=lines, items=items).check_totals()
    currency = lines["currency"]
    line_rows = [
        {"invoice_id": invoice, "line_no": int(no), "status": status, "expected": expected,
         "invoiced": invoiced, "difference": difference, "currency": cur}
        for invoice, no, status, expected, invoiced, difference, cur in zip(
            _texts(lines["invoice_id"]), lines["line_no"], _texts(lines["status"]),
            _amounts(lines["expected_minor"], currency),
            _amounts(lines["amount_minor"], currency),
            _amounts(lines["difference_minor"], currency), _texts(currency), strict=True)]
    accrued = items[(items["item_class"] == "accrual").fillna(False)]
    dates = accrued["service_date"].to_numpy("datetime64[D]")
    day_text = np.where(np.isnat(dates), None, np.datetime_as_string(dates, unit="D"))
    accruals = [
        {"site_id": site, "subject_id": subject, "item_code": code, "service_date": day,
         "amount": amount, "currency": cur}
        for site, subject, code, day, amount, cur in zip(
            _texts(accrued["site_id"]), _texts(accrued["subject_id"]),
            _texts(accrued["item_code"]), day_text.tolist(),
            _amounts(accrued["gross_minor"], accrued["currency"]),
            _texts(accrued["currency"]), strict=True)]
    return {"study_id": study_id, "lines": line_rows, "accruals": accruals,
            "totals": {"invoiced": _by_currency(totals.invoiced),
                       "earned": _by_currency(totals.earned),
                       "by_status": {status: _by_currency(sums)
                                     for status, sums in totals.by_status.items()}}}
