"""An item is paid once however the data move under it (review of the site payments).

Each case runs the whole chain — earned items, reconciliation, payment run — on a
one-site study (DE, EUR, overhead 0 %, so gross = fee), then runs it again after
the data changed the way they change in practice (a visit re-dated, a visit or an
invoice entered late and dated earlier), with the first run approved. Expected
amounts are worked by hand in the comments.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pandas as pd

from contracts.earned import earned_items
from contracts.payments import payment_lines, payment_run_lines
from contracts.reconcile import Reconciliation, reconcile
from contracts.schemas import EARNED, FEES, INVOICE_LINES, PAYMENT_LINES, TERMS
from contracts.site_contracts import site_contracts
from planner.frames import PLANNED_VISITS, SITES, SUBJECTS, VISITS, empty_frame
from planner.fx import FxTable

D = dt.date
FX = FxTable.from_rows([(D(2000, 1, 1), "EUR", Decimal("0.9"))], "test")
NOTHING_PAID = empty_frame(PAYMENT_LINES)
SITE = SITES.conform(pd.DataFrame([{
    "study_id": "S", "site_id": "A", "country": "DE", "investigator": "x",
    "status": "enrolling", "planned_activation": None,
    "actual_activation": pd.Timestamp("2025-01-01"), "target_randomized": None,
    "cra_id": None}]))
SUBJECT = SUBJECTS.conform(pd.DataFrame([{
    "study_id": "S", "site_id": "A", "subject_id": "P1", "arm": None,
    "screened": pd.Timestamp("2025-01-05"), "randomized": pd.Timestamp("2025-01-10"),
    "screen_failed": pd.NaT, "discontinued": pd.NaT, "completed": pd.NaT,
    "disposition": None}]))


def visits(*rows: tuple[float, int, str]) -> pd.DataFrame:
    """(VISITNUM, visit_seq, date) of subject P1."""
    return VISITS.conform(pd.DataFrame([{
        "study_id": "S", "site_id": "A", "subject_id": "P1", "visit_num": num,
        "visit_seq": seq, "visit_name": f"V{num}", "visit_date": pd.Timestamp(day)}
        for num, seq, day in rows], columns=VISITS.names))


def planned(*nums: float) -> pd.DataFrame:
    return PLANNED_VISITS.conform(pd.DataFrame([{
        "study_id": "S", "visit_num": n, "visit_name": f"V{n}", "planned_day": None,
        "scheduled": True} for n in nums], columns=PLANNED_VISITS.names))


def fees(*rows: tuple[str, str, int, int | None]) -> pd.DataFrame:
    """(item_type, code, amount in cents, cap), in force from 2025-01-01."""
    return FEES.conform(pd.DataFrame([{
        "study_id": "S", "country": "DE", "site_id": None, "item_type": kind,
        "item_code": code, "description": "", "amount_minor": amount, "currency": "EUR",
        "effective_from": pd.Timestamp("2025-01-01"), "cap": cap, "source": "test"}
        for kind, code, amount, cap in rows]))


def terms(holdback: str = "0") -> pd.DataFrame:
    return TERMS.conform(pd.DataFrame([{
        "study_id": "S", "country": "DE", "site_id": None, "overhead_pct": Decimal(0),
        "holdback_pct": Decimal(holdback), "sf_ratio": None, "sf_min": None, "sf_max": None,
        "payment_frequency": "monthly", "terms_days": 30, "source": "test"}]))


def lines(*rows: tuple) -> pd.DataFrame:
    """(invoice_id, invoice_date, line_no, item_type, code, subject, service_date, cents)."""
    return INVOICE_LINES.conform(pd.DataFrame([{
        "invoice_id": invoice, "study_id": "S", "site_id": "A",
        "invoice_date": pd.Timestamp(invoiced), "currency": "EUR", "line_no": no,
        "item_type": kind, "item_code": code, "subject_id": subject,
        "service_date": pd.Timestamp(day), "amount_minor": amount, "source": "test"}
        for invoice, invoiced, no, kind, code, subject, day, amount in rows],
        columns=INVOICE_LINES.names))


def run(sv: pd.DataFrame, tv: pd.DataFrame, fee_grid: pd.DataFrame, invoices: pd.DataFrame,
        through: dt.date, paid: pd.DataFrame = NOTHING_PAID,
        holdback: str = "0") -> tuple[Reconciliation, pd.DataFrame]:
    """Earned to ``through``, the invoices dated by then reconciled, the run's lines."""
    contracts = site_contracts(SITE, fee_grid, terms(holdback), sv)
    earned = earned_items(contracts, SUBJECT, sv, tv, fee_grid, through)
    invoices = invoices[invoices["invoice_date"] <= pd.Timestamp(through)]
    rec = reconcile(earned, invoices.reset_index(drop=True), fee_grid, contracts)
    rec.check_totals()
    return rec, payment_lines(EARNED.conform(rec.items), contracts, paid, through, "EUR", FX)


def test_a_back_dated_invoice_does_not_pay_the_first_renewal_again() -> None:
    # IRB renewals (100.00, no cap) are earned by the invoice line billing them. Run 1
    # (March) pays INV1's renewal of 03-01: 100.00. INV2 (April) bills another one,
    # back-dated to 02-01. Keyed by date and occurrence, INV1's renewal became
    # occurrence 2 and was paid again (300.00 in all); keyed by its line, run 2 pays
    # INV2's renewal only: 100.00 + 100.00 = 200.00 for the two renewals billed.
    grid = fees(("invoiceable", "IRB_RENEWAL", 10000, None))
    inv1 = ("INV1", "2025-03-10", 1, "invoiceable", "IRB_RENEWAL", None, "2025-03-01", 10000)
    inv2 = ("INV2", "2025-04-10", 1, "invoiceable", "IRB_RENEWAL", None, "2025-02-01", 10000)
    _, first = run(visits(), planned(1), grid, lines(inv1), D(2025, 3, 31))
    assert list(zip(first["item_ref"], first["amount_minor"], strict=True)) == [
        ("invoice INV1 line 1", 10000)]
    rec, second = run(visits(), planned(1), grid, lines(inv1, inv2), D(2025, 4, 30), first)
    assert list(rec.lines["status"]) == ["matched", "matched"]
    assert list(zip(second["item_ref"], second["service_date"], second["already_paid_minor"],
                    second["amount_minor"], strict=True)) == [
        ("invoice INV2 line 1", pd.Timestamp("2025-02-01"), 0, 10000)]
    assert first["amount_minor"].sum() + second["amount_minor"].sum() == 20000


def test_a_back_dated_invoice_over_the_cap_leaves_the_earlier_line_earned() -> None:
    # cap 1 on IRB renewals: INV1's line (earlier in line order) holds the one place;
    # INV2's back-dated line is the second in line order, over the cap: not earned.
    # Counted by service date, INV2 took the place, INV1 fell out after being paid, and
    # INV2 was paid too (200.00 for a cap of 100.00). Now: 100.00 in all.
    grid = fees(("invoiceable", "IRB_RENEWAL", 10000, 1))
    inv1 = ("INV1", "2025-03-10", 1, "invoiceable", "IRB_RENEWAL", None, "2025-03-01", 10000)
    inv2 = ("INV2", "2025-04-10", 1, "invoiceable", "IRB_RENEWAL", None, "2025-02-01", 10000)
    _, first = run(visits(), planned(1), grid, lines(inv1), D(2025, 3, 31))
    rec, second = run(visits(), planned(1), grid, lines(inv1, inv2), D(2025, 4, 30), first)
    assert list(rec.lines["status"]) == ["matched", "not_earned"]
    assert rec.lines["note"].iloc[1] == "IRB_RENEWAL 2 for site A over the cap of 1"
    earned = rec.items[rec.items["item_code"] == "IRB_RENEWAL"]
    assert list(earned["item_ref"]) == ["invoice INV1 line 1"]
    assert second.empty
    assert first["amount_minor"].sum() == 10000


def test_an_unscheduled_visit_entered_late_does_not_shift_the_paid_one() -> None:
    # unscheduled visits 50.00 each. Run 1 pays SV 1.1 (03-01), invoiced on INV1: 50.00,
    # identified by the line that earned it ("invoice INV1 line 1").
    # Then SV 1.2 of 02-01 is entered late: by date it became occurrence 1 and the paid
    # visit occurrence 2; the key does not move, and SV 1.2 is not invoiced, so not
    # earned: run 2 pays nothing.
    grid = fees(("invoiceable", "UNSCHEDULED", 5000, None))
    billed = lines(("INV1", "2025-03-10", 1, "invoiceable", "UNSCHEDULED", "P1", "2025-03-03",
                    5000))  # billed for 03-03: the visit is recorded on 03-01 (within 7 days)
    _, first = run(visits((1.1, 1, "2025-03-01")), planned(1, 2), grid, billed,
                   D(2025, 3, 31))
    assert list(zip(first["item_ref"], first["occurrence"], first["amount_minor"],
                    strict=True)) == [("invoice INV1 line 1", 1, 5000)]
    late = visits((1.1, 1, "2025-03-01"), (1.2, 1, "2025-02-01"))
    rec, second = run(late, planned(1, 2), grid, billed, D(2025, 4, 30), first)
    paid = rec.items.set_index("item_ref")
    assert paid.loc["invoice INV1 line 1", "occurrence"] == 2  # shown, not part of the key
    assert "SV 1.2 #1" not in paid.index  # invoice only, never invoiced
    assert second.empty
    # a visit entered late CLOSER to the billed date (03-03 itself) takes the line over:
    # it is the line's item now, already paid: run 3 pays nothing (was a double payment)
    closer = visits((1.1, 1, "2025-03-01"), (1.2, 1, "2025-03-03"))
    rec, third = run(closer, planned(1, 2), grid, billed, D(2025, 4, 30), first)
    items = rec.items.set_index("item_ref")
    assert items.loc["invoice INV1 line 1", "service_date"] == pd.Timestamp("2025-03-03")
    assert third.empty


def test_a_re_dated_visit_is_not_paid_again() -> None:
    # visit 1 (100.00, holdback 10 %): run 1 pays 90.00 and withholds 10.00. Data
    # management corrects its date from 03-01 to 03-03: the same item (paid once per
    # VISITNUM, item_ref NA), already settled 100.00 = gross: run 2 pays nothing.
    grid = fees(("visit", "1", 10000, None))
    _, first = run(visits((1.0, 1, "2025-03-01")), planned(1), grid, lines(), D(2025, 3, 31),
                   holdback="10")
    assert list(zip(first["holdback_minor"], first["amount_minor"], strict=True)) == [
        (1000, 9000)]
    assert first["item_ref"].isna().all()
    _, second = run(visits((1.0, 1, "2025-03-03")), planned(1), grid, lines(),
                    D(2025, 4, 30), first, holdback="10")
    assert second.empty


def test_the_cap_of_unscheduled_visits_counts_matched_lines_in_line_order() -> None:
    # cap 2 unscheduled visits (50.00) per subject; three visits, three lines on I1
    # matching them: lines 1 and 2 are within the cap, line 3 is the third → not earned
    # and its visit stays unpaid. Paid: 2 × 50.00 = 100.00 (was 150.00).
    grid = fees(("invoiceable", "UNSCHEDULED", 5000, 2))
    sv = visits((1.1, 1, "2025-02-01"), (1.2, 1, "2025-02-15"), (1.3, 1, "2025-03-01"))
    billed = lines(*(("I1", "2025-03-10", n, "invoiceable", "UNSCHEDULED", "P1", day, 5000)
                     for n, day in ((1, "2025-02-01"), (2, "2025-02-15"), (3, "2025-03-01"))))
    rec, paid = run(sv, planned(1), grid, billed, D(2025, 3, 31))
    assert list(rec.lines["status"]) == ["matched", "matched", "not_earned"]
    assert rec.lines["note"].iloc[2] == "unscheduled visit 3 for subject P1 over the cap of 2"
    assert list(rec.lines["expected_minor"]) == [5000, 5000, 0]
    assert list(paid["item_ref"]) == ["invoice I1 line 1", "invoice I1 line 2"]
    assert paid["amount_minor"].sum() == 10000
    # line order, not service dates: a later invoice's line is beyond the cap even when
    # it bills the earliest visit (I1 billed the visits of 02-15 and 03-01 first)
    billed = lines(("I1", "2025-03-10", 1, "invoiceable", "UNSCHEDULED", "P1", "2025-02-15",
                    5000),
                   ("I1", "2025-03-10", 2, "invoiceable", "UNSCHEDULED", "P1", "2025-03-01",
                    5000),
                   ("I2", "2025-03-20", 1, "invoiceable", "UNSCHEDULED", "P1", "2025-02-01",
                    5000))
    rec, paid = run(sv, planned(1), grid, billed, D(2025, 3, 31))
    assert list(rec.lines["status"]) == ["matched", "matched", "not_earned"]
    assert list(paid["item_ref"]) == ["invoice I1 line 1", "invoice I1 line 2"]
    assert list(paid["service_date"].dt.strftime("%m-%d")) == ["02-15", "03-01"]


def test_of_two_lines_for_one_visit_the_earlier_line_is_matched() -> None:
    # visit 1 on 03-05. EARLY (invoice of 03-10) bills it dated 03-02, 3 days off; LATE
    # (04-10) bills it on its date. The earlier line takes the item, however close the
    # later one is: EARLY matched, LATE a duplicate of it (the reverse before).
    grid = fees(("visit", "1", 10000, None))
    billed = lines(("EARLY", "2025-03-10", 1, "visit", "1", "P1", "2025-03-02", 10000),
                   ("LATE", "2025-04-10", 1, "visit", "1", "P1", "2025-03-05", 10000))
    rec, _ = run(visits((1.0, 1, "2025-03-05")), planned(1), grid, billed, D(2025, 4, 30))
    assert list(rec.lines["status"]) == ["matched", "duplicate"]
    assert rec.lines["note"].iloc[1] == ("visit 1 for subject P1 on 2025-03-05 already billed "
                                         "on invoice EARLY line 1")
    assert rec.items.loc[rec.items["item_code"] == "1", "invoice_id"].tolist() == ["EARLY"]


def test_a_quarterly_site_waits_for_the_quarter_end_run() -> None:
    # visit 1 is 100.00 with 10 % holdback: 90.00 paid, 10.00 withheld. Site A is paid
    # quarterly (the DE terms), site B monthly (its own terms row). Through 04-30, not a
    # quarter end: B's visit of 04-02 is paid now, 90.00 EUR = 90.00 reporting at rate 1;
    # A's visit of 03-05 waits, 90.00 due (no FX columns). Through 06-30, with that run
    # approved: A's 90.00 is paid, B nothing more.
    sites = SITES.conform(pd.concat([SITE, SITE.assign(site_id="B")], ignore_index=True))
    subjects = SUBJECTS.conform(pd.concat([SUBJECT, SUBJECT.assign(site_id="B",
                                                                    subject_id="P2")],
                                          ignore_index=True))
    sv = VISITS.conform(pd.concat([visits((1.0, 1, "2025-03-05")),
                                   visits((1.0, 1, "2025-04-02")).assign(site_id="B",
                                                                         subject_id="P2")],
                                  ignore_index=True))
    grid = fees(("visit", "1", 10000, None))
    quarterly = terms("10").assign(payment_frequency="quarterly")
    own = terms("10").assign(site_id="B")
    contracts = site_contracts(sites, grid, TERMS.conform(pd.concat([quarterly, own],
                                                                     ignore_index=True)), sv)
    shown = ["site_id", "subject_id", "gross_minor", "holdback_minor", "already_paid_minor",
             "amount_minor"]

    def pay(through: dt.date, paid: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
        earned = earned_items(contracts, subjects, sv, planned(1), grid, through)
        return payment_run_lines(earned, contracts, paid, through, "EUR", FX)

    now, waiting = pay(D(2025, 4, 30), NOTHING_PAID)
    assert now[[*shown, "reporting_minor"]].values.tolist() == [["B", "P2", 10000, 1000, 0,
                                                                 9000, 9000]]
    assert waiting[shown].values.tolist() == [["A", "P1", 10000, 1000, 0, 9000]]
    assert "reporting_minor" not in waiting
    later, waiting = pay(D(2025, 6, 30), now)
    assert later[shown].values.tolist() == [["A", "P1", 10000, 1000, 0, 9000]]
    assert waiting.empty
