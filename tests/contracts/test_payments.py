"""Payment runs (docs/SITE_PAYMENTS.md, "Payment runs"): a hand-worked run to the cent,
nothing paid twice, dated FX, exact exports, and frozen approved runs."""

from __future__ import annotations

import csv
import datetime as dt
from decimal import Decimal

import numpy as np
import pandas as pd
import pytest
from openpyxl import load_workbook

from contracts.minor import from_minor
from contracts.payment_export import read_lines_csv, write_csv, write_run, write_xlsx
from contracts.payments import (
    PaymentsError,
    convert_minor,
    payment_lines,
    payment_run_lines,
    payment_summary,
    reporting_total,
)
from contracts.schemas import EARNED, PAYMENT_LINES
from planner.frames import empty_frame
from planner.fx import FX_DECIMALS, FxError, FxTable, load_fx_table, rate
from planner.payment_tables import FX_RATE

D = dt.date
THROUGH = D(2025, 4, 30)  # not a quarter end: the quarterly site waits
# EUR 0.9 and JPY 150 per USD from 2025-04-15: 1 JPY = 0.006 EUR exactly
FX = FxTable.from_rows([
    (D(2025, 1, 2), "EUR", Decimal("0.9626")), (D(2025, 1, 2), "JPY", Decimal("157.20")),
    (D(2025, 4, 15), "EUR", Decimal("0.9")), (D(2025, 4, 15), "JPY", Decimal("150")),
    (D(2025, 5, 1), "EUR", Decimal("0.8")), (D(2025, 5, 1), "JPY", Decimal("140")),
], "test rates")


def contracts() -> pd.DataFrame:
    """Three sites, overhead 20 %, holdback 10 %: 101 closed on 2025-04-10 (monthly),
    102 quarterly, 201 in Japan (JPY, monthly)."""
    return pd.DataFrame({
        "study_id": ["S1"] * 3, "site_id": ["101", "102", "201"],
        "country": ["DE", "FR", "JP"], "status": ["closed", "enrolling", "enrolling"],
        "actual_activation": pd.to_datetime(["2025-01-15"] * 3).astype("datetime64[s]"),
        "overhead_pct": [Decimal(20)] * 3, "holdback_pct": [Decimal(10)] * 3,
        "sf_ratio": [None] * 3, "sf_min": pd.array([None] * 3, dtype="Int64"),
        "sf_max": pd.array([None] * 3, dtype="Int64"),
        "payment_frequency": ["monthly", "quarterly", "monthly"],
        "terms_days": [30, 45, 60], "currency": ["EUR", "EUR", "JPY"],
        "closeout": pd.to_datetime(["2025-04-10", None, None]).astype("datetime64[s]"),
        "has_contract": [True] * 3,
    })


def item(site: str, subject: str | None, code: str, day: str, fee: int, gross: int,
         holdback: int, currency: str = "EUR", item_type: str = "visit",
         status: str = "earned", earned: str | None = None, ref: str | None = None) -> dict:
    return {"study_id": "S1", "site_id": site, "country": "XX", "subject_id": subject,
            "item_type": item_type, "item_code": code, "item_ref": ref, "occurrence": 1,
            "service_date": day, "earned_date": earned or day, "status": status,
            "fee_minor": fee, "gross_minor": gross, "holdback_minor": holdback,
            "currency": currency, "source": "test"}


def earned(rows: list[dict]) -> pd.DataFrame:
    frame = pd.DataFrame(rows)
    for column in ("service_date", "earned_date"):
        frame[column] = pd.to_datetime(frame[column])
    return EARNED.conform(frame)


# fee × 1.2 rounded half up = gross; gross × 0.1 rounded half up = holdback (by hand)
FIRST = [
    item("101", None, "STARTUP", "2025-01-15", 100000, 120000, 12000, item_type="one_time"),
    item("101", "S1-101-001", "1", "2025-02-03", 25000, 30000, 3000),
    item("101", "S1-101-002", "1", "2025-02-10", 12555, 15066, 1507),  # 150.66 → 15.066
    item("101", "S1-101-001", "2", "2025-03-05", 33333, 40000, 4000),  # 399.996 → 400.00
    item("101", None, "CLOSEOUT", "2025-04-10", 50000, 60000, 6000, item_type="one_time"),
    item("102", "S1-102-001", "1", "2025-04-01", 20000, 24000, 2400),
    item("201", "S1-201-001", "1", "2025-03-10", 20001, 24001, 2400, "JPY"),  # ¥24,001.2
    item("201", "S1-201-001", "2", "2025-04-20", 15555, 18666, 1867, "JPY"),  # ¥1,866.6
    # not payable by 2025-04-30: earned later, held over the cap, invoice only
    item("101", "S1-101-001", "3", "2025-05-02", 10000, 12000, 1200),
    item("101", "S1-101-003", "SF", "2025-03-01", 5000, 6000, 600,
         item_type="screen_failure", status="sf_over_cap"),
    item("201", "S1-201-001", "UNSCHEDULED", "2025-03-20", 3000, 3600, 360, "JPY",
         item_type="invoiceable", status="invoice_only"),
]
LATER = [
    item("102", "S1-102-001", "2", "2025-06-02", 10000, 12000, 1200),
    item("201", "S1-201-001", "3", "2025-06-10", 1000, 1200, 120, "JPY"),
]
NOTHING_PAID = empty_frame(PAYMENT_LINES)


def first_run() -> pd.DataFrame:
    return payment_lines(earned(FIRST), contracts(), NOTHING_PAID, THROUGH, "EUR", FX)


def amounts(lines: pd.DataFrame) -> list[tuple]:
    return [(r.site_id, r.kind, r.item_code, r.gross_minor, r.holdback_minor,
             r.already_paid_minor, r.amount_minor, r.reporting_minor)
            for r in lines.itertuples(index=False)]


def test_hand_worked_run_to_the_cent() -> None:
    lines = first_run()
    assert amounts(lines) == [
        ("101", "item", "STARTUP", 120000, 12000, 0, 108000, 108000),
        ("101", "item", "1", 30000, 3000, 0, 27000, 27000),
        ("101", "item", "1", 15066, 1507, 0, 13559, 13559),
        ("101", "item", "2", 40000, 4000, 0, 36000, 36000),
        ("101", "item", "CLOSEOUT", 60000, 6000, 0, 54000, 54000),
        # closed by the through date: Σ holdback 120 + 30 + 15.07 + 40 + 60 released
        ("101", "holdback_release", pd.NA, 0, -26507, 0, 26507, 26507),
        # ¥21,601 × 0.006 = 129.606 → 129.61 EUR; ¥16,799 × 0.006 = 100.794 → 100.79
        ("201", "item", "1", 24001, 2400, 0, 21601, 12961),
        ("201", "item", "2", 18666, 1867, 0, 16799, 10079),
    ]
    release = lines[lines["kind"] == "holdback_release"].iloc[0]
    assert release["service_date"] == pd.Timestamp("2025-04-10")
    assert pd.isna(release["subject_id"]) and pd.isna(release["occurrence"])
    assert list(lines["fx_rate"]) == [Decimal(1)] * 6 + [Decimal("0.006")] * 2
    assert set(lines["currency"][lines["site_id"] == "201"]) == {"JPY"}
    assert set(lines["reporting_currency"]) == {"EUR"}
    # every line: amount = gross − holdback − already paid
    assert (lines["amount_minor"] == lines["gross_minor"] - lines["holdback_minor"]
            - lines["already_paid_minor"]).all()
    assert reporting_total(lines) == Decimal("2881.06")  # 2,650.66 + 129.61 + 100.79


def test_quarterly_site_waits_and_is_reported() -> None:
    now, waiting = payment_run_lines(earned(FIRST), contracts(), NOTHING_PAID, THROUGH, "EUR",
                                     FX)  # both from one computation of the lines
    pd.testing.assert_frame_equal(now, first_run())
    assert amounts(waiting.assign(reporting_minor=0)) == [
        ("102", "item", "1", 24000, 2400, 0, 21600, 0)]
    summary = payment_summary(first_run(), contracts(), THROUGH, waiting)
    rows = {(r.row, r.site_id if r.row == "site" else r.currency): r
            for r in summary.itertuples(index=False)}
    s101, s102, s201 = rows["site", "101"], rows["site", "102"], rows["site", "201"]
    assert (s101.lines, s101.gross, s101.holdback, s101.released, s101.already_paid,
            s101.paid_now, s101.reporting_amount) == (
        6, Decimal("2650.66"), Decimal("265.07"), Decimal("265.07"), Decimal("0.00"),
        Decimal("2650.66"), Decimal("2650.66"))
    assert s101.due_date == pd.Timestamp("2025-05-30")  # through + 30 days
    assert (s102.lines, s102.paid_now, s102.deferred_lines, s102.deferred_amount) == (
        0, Decimal("0.00"), 1, Decimal("216.00"))
    assert pd.isna(s102.due_date)
    assert (s201.currency, s201.gross, s201.holdback, s201.paid_now, s201.reporting_amount,
            s201.due_date) == ("JPY", Decimal("42667"), Decimal("4267"), Decimal("38400"),
                               Decimal("230.40"), pd.Timestamp("2025-06-29"))
    eur, jpy = rows["total", "EUR"], rows["total", "JPY"]
    assert (eur.lines, eur.paid_now, eur.deferred_amount) == (6, Decimal("2650.66"),
                                                              Decimal("216.00"))
    assert (jpy.paid_now, jpy.reporting_amount) == (Decimal("38400"), Decimal("230.40"))
    for row in summary.itertuples(index=False):  # paid now = gross − holdback − settled + released
        assert row.paid_now == row.gross - row.holdback - row.already_paid + row.released


def test_second_run_for_the_same_period_pays_nothing_twice() -> None:
    first = first_run()
    again, waiting = payment_run_lines(earned(FIRST), contracts(), first, THROUGH, "EUR", FX)
    assert again.empty
    assert list(again.columns) == PAYMENT_LINES.names
    summary = payment_summary(again, contracts(), THROUGH, waiting, "EUR")
    assert list(summary["row"]) == ["site", "total"]  # only the quarterly site, waiting
    assert list(summary["paid_now"]) == [Decimal("0.00")] * 2
    assert list(summary["reporting_amount"]) == [Decimal("0.00")] * 2


def test_later_run_pays_only_new_items() -> None:
    first = first_run()
    june = D(2025, 6, 30)  # a quarter end: the quarterly site is paid its waiting item too
    lines = payment_lines(earned(FIRST + LATER), contracts(), first, june, "EUR", FX)
    # 0.8 / 140 = 0.005714285714… → 0.0057142857; ¥1,080 → 6.171428556 → 6.17 EUR
    assert amounts(lines) == [
        # earned 2025-05-02 at the closed site: paid, and its holdback released at once
        ("101", "item", "3", 12000, 1200, 0, 10800, 10800),
        ("101", "holdback_release", pd.NA, 0, -1200, 0, 1200, 1200),
        ("102", "item", "1", 24000, 2400, 0, 21600, 21600),
        ("102", "item", "2", 12000, 1200, 0, 10800, 10800),
        ("201", "item", "3", 1200, 120, 0, 1080, 617),
    ]
    assert lines["fx_rate"].iloc[-1] == Decimal("0.0057142857")
    paid = pd.concat([first, lines], ignore_index=True)
    assert payment_lines(earned(FIRST + LATER), contracts(), paid, june, "EUR", FX).empty


def test_amended_item_pays_the_difference_only() -> None:
    """Paid at 300.00 gross (270.00 + 30.00 withheld); the amended gross is 360.00."""
    rows = [item("201", "S1-201-009", "1", "2025-04-01", 250, 300, 30, "JPY")]
    first = payment_lines(earned(rows), contracts(), NOTHING_PAID, THROUGH, "JPY", FX)
    rows[0].update(fee_minor=300, gross_minor=360, holdback_minor=36)
    second = payment_lines(earned(rows), contracts(), first, THROUGH, "JPY", FX)
    assert amounts(second) == [("201", "item", "1", 360, 6, 300, 54, 54)]


def test_release_counts_what_was_released_before() -> None:
    first = first_run()
    # a late close-out fee of the closed site: its holdback is withheld and released
    late = [*FIRST, item("101", None, "ARCHIVING", "2025-04-10", 1000, 1200, 120,
                         item_type="one_time", earned="2025-04-29")]
    lines = payment_lines(earned(late), contracts(), first, THROUGH, "EUR", FX)
    assert amounts(lines) == [
        ("101", "item", "ARCHIVING", 1200, 120, 0, 1080, 1080),
        ("101", "holdback_release", pd.NA, 0, -120, 0, 120, 120)]


def test_the_item_key_is_its_identity_not_its_date() -> None:
    # (study, site, subject, item_type, item_code, item_ref): visit 1 of S1-101-001
    # re-dated from 02-03 to 02-05 (and shown as occurrence 2) is the item paid in the
    # first run; two unscheduled visits of one subject are two items by their SV rows
    moved = [dict(r) for r in FIRST]
    moved[1].update(service_date="2025-02-05", earned_date="2025-02-05", occurrence=2)
    assert payment_lines(earned(moved), contracts(), first_run(), THROUGH, "EUR", FX).empty
    visits = [item("201", "S1-201-002", "UNSCHEDULED", "2025-03-20", 3000, 3600, 360, "JPY",
                   item_type="invoiceable", ref=f"SV 1.1 #{n}") for n in (1, 2)]
    lines = payment_lines(earned(visits), contracts(), NOTHING_PAID, THROUGH, "EUR", FX)
    assert list(lines["item_ref"]) == ["SV 1.1 #1", "SV 1.1 #2"]
    assert list(lines["amount_minor"]) == [3240, 3240]  # ¥3,600 − ¥360 each
    again = payment_lines(earned(visits), contracts(), lines, THROUGH, "EUR", FX)
    assert again.empty


def test_refuses_items_it_cannot_pay() -> None:
    twice = earned([FIRST[1], FIRST[1]])
    with pytest.raises(PaymentsError, match="share an item key"):
        payment_lines(twice, contracts(), NOTHING_PAID, THROUGH, "EUR", FX)
    same_visit = earned([FIRST[1], FIRST[1] | {"service_date": "2025-02-09"}])
    with pytest.raises(PaymentsError, match="share an item key"):  # one VISITNUM, two dates
        payment_lines(same_visit, contracts(), NOTHING_PAID, THROUGH, "EUR", FX)
    stranger = earned([item("999", "S1-999-001", "1", "2025-02-01", 100, 120, 12)])
    with pytest.raises(PaymentsError, match="S1/999"):
        payment_lines(stranger, contracts(), NOTHING_PAID, THROUGH, "EUR", FX)
    late = FxTable.from_rows([(D(2025, 3, 1), "EUR", Decimal("0.9"))])
    with pytest.raises(FxError, match="EUR dated on or before 2025-02-28"):
        payment_lines(earned(FIRST), contracts(), NOTHING_PAID, D(2025, 2, 28), "USD", late)


def test_no_float_anywhere() -> None:
    lines = first_run()
    waiting = payment_run_lines(earned(FIRST), contracts(), NOTHING_PAID, THROUGH, "EUR", FX)[1]
    for column in ("gross_minor", "holdback_minor", "already_paid_minor", "amount_minor",
                   "reporting_minor"):
        assert lines[column].dtype == np.int64
    assert all(type(v) is Decimal for v in lines["fx_rate"])
    summary = payment_summary(lines, contracts(), THROUGH, waiting)
    for column in ("gross", "holdback", "released", "already_paid", "paid_now",
                   "reporting_amount", "deferred_amount"):
        assert all(type(v) is Decimal for v in summary[column]), column
    for frame in (lines, waiting, summary):
        assert not any(str(t).startswith(("float", "Float")) for t in frame.dtypes)


def test_fx_picks_the_latest_rate_on_or_before_the_date() -> None:
    assert FX.rate("JPY", "EUR", D(2025, 4, 14)) == Decimal("0.0061234097")  # January's
    assert FX.rate("JPY", "EUR", D(2025, 4, 15)) == Decimal("0.006")
    assert FX.rate("EUR", "JPY", D(2025, 4, 30)) == Decimal("166.6666666667")
    assert FX.rate("EUR", "EUR", D(1990, 1, 1)) == 1
    assert FX.rate("USD", "EUR", D(2025, 5, 1)) == Decimal("0.8")
    lines = payment_lines(earned(FIRST), contracts(), NOTHING_PAID, D(2025, 4, 14), "EUR", FX)
    assert set(lines.loc[lines["currency"] == "JPY", "fx_rate"]) == {Decimal("0.0061234097")}
    # per currency: a date listing only EUR keeps JPY's older rate
    partial = FxTable.from_rows([(D(2025, 1, 2), "JPY", Decimal("150")),
                                 (D(2025, 1, 2), "EUR", Decimal("0.9")),
                                 (D(2025, 3, 1), "EUR", Decimal("0.75"))])
    assert partial.rate("JPY", "EUR", D(2025, 3, 1)) == Decimal("0.005")
    with pytest.raises(FxError, match="dated on or before 2025-01-01"):
        FX.rate("JPY", "EUR", D(2025, 1, 1))
    with pytest.raises(FxError, match="no exchange rate for THB"):
        FX.rate("THB", "EUR", D(2025, 5, 1))
    with pytest.raises(FxError, match="two rates for EUR"):
        FxTable.from_rows([(D(2025, 1, 2), "EUR", Decimal("0.9"))] * 2)
    # the shipped table, moved to the planner: yearly reference rates from 2023-01-02
    assert rate("USD", "JPY", D(2025, 6, 1)) == Decimal("157.20")
    assert load_fx_table().dates[0] == D(2023, 1, 2)
    assert rate("USD", "EUR", D(2024, 6, 1)) == Decimal("0.9050")  # the 2024 rate
    assert FX_RATE.scale == FX_DECIMALS  # a stored rate is the factor that was used


def test_convert_minor_is_exact_across_minor_units() -> None:
    # half up, away from zero; JPY has no decimals, EUR two, KWD three
    assert list(convert_minor(np.array([1, 3, -1, -3]), Decimal("0.5"), "EUR", "EUR")) == [
        1, 2, -1, -2]
    assert list(convert_minor(np.array([21601]), Decimal("0.006"), "JPY", "EUR")) == [12961]
    assert list(convert_minor(np.array([12961]), Decimal("166.6666666667"), "EUR", "JPY")) \
        == [21602]  # 129.61 EUR → ¥21,601.666… → ¥21,602
    assert list(convert_minor(np.array([1000]), Decimal("0.3"), "EUR", "KWD")) == [3000]
    big = np.array([9 * 10**15])  # no int64 overflow in the product
    assert list(convert_minor(big, Decimal("157.2000000001"), "USD", "JPY")) == [
        int((Decimal(9 * 10**13) * Decimal("157.2000000001")).to_integral_value())]


def test_csv_round_trip_is_exact(tmp_path) -> None:
    lines = first_run()
    lines.loc[1, "item_ref"] = "SV 3.1 #1"
    path = write_csv(lines, tmp_path / "run.csv")
    with path.open(newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    assert [r["amount"] for r in rows] == ["1080.00", "270.00", "135.59", "360.00", "540.00",
                                           "265.07", "21601", "16799"]
    assert [r["reporting_amount"] for r in rows][-2:] == ["129.61", "100.79"]
    back = read_lines_csv(path)
    pd.testing.assert_frame_equal(back, lines)


def test_xlsx_cells_equal_the_decimal_amounts(tmp_path) -> None:
    lines = first_run()
    waiting = payment_run_lines(earned(FIRST), contracts(), NOTHING_PAID, THROUGH, "EUR", FX)[1]
    summary = payment_summary(lines, contracts(), THROUGH, waiting)
    path = write_xlsx(lines, summary, tmp_path / "run.xlsx", [("study_id", "S1")])
    book = load_workbook(path)
    assert book.sheetnames == ["Summary", "Lines", "Info"]
    sheet = book["Lines"]
    header = [c.value for c in sheet[1]]
    assert sheet.freeze_panes == "A2" and sheet.auto_filter.ref == sheet.dimensions
    cells = [dict(zip(header, (c.value for c in row), strict=True))
             for row in sheet.iter_rows(min_row=2)]
    assert len(cells) == len(lines)
    for cell_row, line in zip(cells, lines.itertuples(index=False), strict=True):
        for column, minor in (("gross", line.gross_minor), ("holdback", line.holdback_minor),
                              ("already_paid", line.already_paid_minor),
                              ("amount", line.amount_minor)):
            expected = from_minor(minor, line.currency)
            assert Decimal(str(cell_row[column])).quantize(expected) == expected
        reporting = from_minor(line.reporting_minor, "EUR")
        assert Decimal(str(cell_row["reporting_amount"])).quantize(reporting) == reporting
        assert cell_row["amount (exact)"] == str(from_minor(line.amount_minor, line.currency))
        assert cell_row["reporting amount (exact)"] == str(reporting)
    formats = {sheet.cell(r, header.index("amount") + 1).number_format
               for r in range(2, sheet.max_row + 1)}
    assert formats == {"#,##0.00", "#,##0"}  # EUR lines and JPY lines
    summary_sheet = book["Summary"]
    top = [c.value for c in summary_sheet[1]]
    paid = [Decimal(str(r[top.index("paid_now")].value))
            for r in summary_sheet.iter_rows(min_row=2)]
    assert paid == list(summary["paid_now"])


def test_write_run_picks_the_format(tmp_path) -> None:
    class Run:
        lines = first_run()
        summary = payment_summary(lines, contracts(), THROUGH)
        study_id, through = "S1", THROUGH

    assert load_workbook(write_run(Run(), tmp_path / "r.xlsx"))["Info"]["B2"].value \
        == "2025-04-30"
    assert read_lines_csv(write_run(Run(), tmp_path / "r.csv")).equals(Run.lines)
    with pytest.raises(ValueError, match=".xlsx or .csv"):
        write_run(Run(), tmp_path / "r.pdf")


# ---- the store: approval, audit, frozen runs (SQLite, and PostgreSQL when configured) ----

def _study(session) -> None:  # noqa: ANN001
    from planner.domain import SiteStatus
    from planner.tables import Site, Sponsor, Study

    sponsor = Sponsor(name="Acme")
    session.add(sponsor)
    session.flush()
    study = Study(study_id="S1", sponsor_pk=sponsor.id, target_randomized=10,
                  treatment_weeks=12.0, currency="EUR")
    session.add(study)
    session.flush()
    for site, country in (("101", "DE"), ("102", "FR"), ("201", "JP")):
        session.add(Site(study_pk=study.id, site_id=site, country_code=country,
                         status=SiteStatus.ENROLLING))


def _approve(store, lines: pd.DataFrame, actor: str = "finance") -> int:  # noqa: ANN001
    from contracts.payment_runs import approve_run
    from planner.store import transaction

    with transaction(store, "whoever") as session:
        return approve_run(session, "S1", lines, THROUGH, actor, "0" * 64)


def test_approve_stores_the_run_exactly_and_audits_it(store) -> None:  # noqa: ANN001
    from sqlalchemy import select

    from contracts.payment_runs import approved_lines, run_lines, stored_runs
    from planner.payment_tables import PaymentLine, PaymentRun
    from planner.store import transaction
    from planner.tables import AuditEntry

    with transaction(store, "setup") as session:
        _study(session)
    lines = first_run()
    lines.loc[1, "item_ref"] = "invoice INV-7 line 3"  # stored and read back as it is
    run_id = _approve(store, lines)
    with transaction(store, "reader") as session:
        run = session.get(PaymentRun, run_id)
        assert (run.actor, run.through, run.reporting_currency) == ("finance", THROUGH, "EUR")
        assert run.totals["by_currency"]["EUR"]["paid"] == "2650.66"
        assert run.totals["by_currency"]["JPY"] == {
            "lines": "2", "gross": "42667", "holdback": "4267", "released": "0",
            "already_paid": "0", "paid": "38400", "reporting": "230.40"}
        assert run.totals["reporting"] == {"currency": "EUR", "amount": "2881.06"}
        amounts = session.scalars(select(PaymentLine.amount).order_by(PaymentLine.id)).all()
        assert all(isinstance(a, Decimal) for a in amounts)
        assert amounts[5] == Decimal("265.07") and amounts[-1] == Decimal("16799")
        pd.testing.assert_frame_equal(approved_lines(session, "S1"), lines)
        pd.testing.assert_frame_equal(run_lines(session, run_id), lines)
        assert [r.id for r in stored_runs(session, "S1")] == [run_id]
        audit = session.scalars(select(AuditEntry).where(
            AuditEntry.entity.in_(["payment_run", "payment_line"]))).all()
    assert len(audit) == 1 + len(lines)
    assert {(a.action.value, a.actor) for a in audit} == {("insert", "finance")}
    run_entry = next(a for a in audit if a.entity == "payment_run")
    assert run_entry.after["through"] == "2025-04-30"
    assert run_entry.after["totals"]["reporting"]["amount"] == "2881.06"


def test_second_approval_of_the_period_is_refused(store) -> None:  # noqa: ANN001
    from contracts.payment_runs import PaymentRunError, approved_lines
    from planner.store import transaction
    from tests.conftest import snapshot

    with transaction(store, "setup") as session:
        _study(session)
    stale = first_run()
    _approve(store, stale)
    with transaction(store, "reader") as session:
        paid = approved_lines(session, "S1")
    again = payment_lines(earned(FIRST), contracts(), paid, THROUGH, "EUR", FX)
    before = snapshot(store)
    with pytest.raises(PaymentRunError, match="nothing to pay"):
        _approve(store, again)
    with pytest.raises(PaymentRunError, match="no longer match the approved runs"):
        _approve(store, stale)  # computed before the first approval: would pay twice
    assert snapshot(store) == before


def test_approved_runs_cannot_be_updated_or_deleted(store) -> None:  # noqa: ANN001
    from sqlalchemy import delete, select, update

    from planner.payment_freeze import FrozenRunError
    from planner.payment_tables import PaymentLine, PaymentRun
    from planner.store import transaction
    from tests.conftest import snapshot

    with transaction(store, "setup") as session:
        _study(session)
    run_id = _approve(store, first_run())
    before = snapshot(store)
    attempts = [
        lambda s: setattr(s.get(PaymentRun, run_id), "actor", "mallory"),
        lambda s: setattr(s.scalars(select(PaymentLine)).first(), "amount", Decimal("1.00")),
        lambda s: s.delete(s.get(PaymentRun, run_id)),
        lambda s: s.delete(s.scalars(select(PaymentLine)).first()),
    ]
    for attempt in attempts:
        with pytest.raises(FrozenRunError, match="approved and frozen"), \
                transaction(store, "mallory") as session:
            attempt(session)
            session.flush()
    for statement in (update(PaymentLine).values(amount=Decimal(0)),
                      delete(PaymentRun).where(PaymentRun.id == run_id)):
        with pytest.raises(FrozenRunError, match="bulk"), \
                transaction(store, "mallory") as session:
            session.execute(statement)
    with transaction(store, "reader") as session:  # touched, not changed: no error
        run = session.get(PaymentRun, run_id)
        run.actor = run.actor
    assert snapshot(store) == before


def test_a_rate_finer_than_the_store_keeps_is_refused(store) -> None:  # noqa: ANN001
    from contracts.payment_runs import PaymentRunError
    from planner.store import transaction

    with transaction(store, "setup") as session:
        _study(session)
    lines = first_run()
    lines.loc[6, "fx_rate"] = Decimal("0.00600000000001")
    with pytest.raises(PaymentRunError, match="more than 10 decimals"):
        _approve(store, lines)
