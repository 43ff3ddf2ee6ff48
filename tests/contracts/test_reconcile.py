"""Invoice reconciliation (docs/SITE_PAYMENTS.md "Reconciliation"): a hand-worked
example with one line of each status, and property tests on random contracts and
invoices derived from the earned items with tagged perturbations."""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from contracts.minor import from_minor, percent_factor, scale_half_up
from contracts.reconcile import (
    Reconciliation,
    ReconciliationError,
    reconcile,
    reconciliation_json,
)
from contracts.schemas import (
    EARNED,
    FEES,
    INVOICE_LINES,
    ITEM_CLASSES,
    LINE_STATUSES,
    RECONCILED_ITEMS,
    RECONCILED_LINES,
    TERMS,
)
from contracts.site_contracts import site_contracts

STUDY = "S1"


# --------------------------------------------------------------------------- builders


def fee(country: str, item_type: str, code: str, amount: int, currency: str, *,
        site: str | None = None, since: str = "2013-01-01", cap: int | None = None) -> dict:
    return {"study_id": STUDY, "country": country, "site_id": site, "item_type": item_type,
            "item_code": code, "description": code, "amount_minor": amount,
            "currency": currency, "effective_from": pd.Timestamp(since), "cap": cap,
            "source": "test"}


def terms(country: str, overhead: str, holdback: str = "10", sf_ratio: str | None = None,
          site: str | None = None) -> dict:
    return {"study_id": STUDY, "country": country, "site_id": site,
            "overhead_pct": Decimal(overhead), "holdback_pct": Decimal(holdback),
            "sf_ratio": None if sf_ratio is None else Decimal(sf_ratio), "sf_min": None,
            "sf_max": None, "payment_frequency": "monthly", "terms_days": 30,
            "source": "test"}


def contract_frames(fee_rows: list[dict], term_rows: list[dict],
                    sites: dict[str, str]) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(fees, site_contracts) for sites {site_id: country}."""
    fees = FEES.conform(pd.DataFrame(fee_rows))
    site_frame = pd.DataFrame({
        "study_id": STUDY, "site_id": list(sites), "country": list(sites.values()),
        "status": "enrolling", "actual_activation": pd.Timestamp("2013-06-01")})
    visits = pd.DataFrame({"study_id": pd.Series(dtype="string"),
                           "site_id": pd.Series(dtype="string"),
                           "visit_date": pd.Series(dtype="datetime64[s]")})
    return fees, site_contracts(site_frame, fees, TERMS.conform(pd.DataFrame(term_rows)),
                                visits)


def item(site: str, subject: str | None, item_type: str, code: str, date: str, fee_minor: int,
         currency: str, overhead: str, *, status: str = "earned", occurrence: int = 1,
         country: str = "DE") -> dict:
    gross = int(scale_half_up(np.array([fee_minor]), 1 + percent_factor(Decimal(overhead)))[0])
    holdback = int(scale_half_up(np.array([gross]), Decimal("0.1"))[0])
    return {"study_id": STUDY, "site_id": site, "country": country, "subject_id": subject,
            "item_type": item_type, "item_code": code, "occurrence": occurrence,
            "service_date": pd.Timestamp(date),
            "earned_date": pd.NaT if status != "earned" else pd.Timestamp(date),
            "status": status, "fee_minor": fee_minor, "gross_minor": gross,
            "holdback_minor": holdback, "currency": currency, "source": "test"}


def line(invoice: str, invoice_date: str, line_no: int, site: str, subject: str | None,
         item_type: str, code: str, date: str, amount: int, currency: str = "EUR") -> dict:
    return {"invoice_id": invoice, "study_id": STUDY, "site_id": site,
            "invoice_date": pd.Timestamp(invoice_date), "currency": currency,
            "line_no": line_no, "item_type": item_type, "item_code": code,
            "subject_id": subject, "service_date": pd.Timestamp(date),
            "amount_minor": amount, "source": f"{invoice}:{line_no}"}


def earned_frame(rows: list[dict]) -> pd.DataFrame:
    return EARNED.conform(pd.DataFrame(rows, columns=EARNED.names))


def lines_frame(rows: list[dict]) -> pd.DataFrame:
    return INVOICE_LINES.conform(pd.DataFrame(rows, columns=INVOICE_LINES.names))


# --------------------------------------------------------------------------- hand-worked


def hand_example() -> Reconciliation:
    """Site 701 (DE, EUR, 10 % overhead, cap of one IRB renewal); site 799 (FR) has no
    contract.

    Fees: visits 1-3 100.00, SF 50.00, STARTUP 1000.00, UNSCHEDULED 40.00, IRB 200.00
    (cap 1): gross 110.00, 55.00, 1100.00, 44.00, 220.00.
    """
    fees, contracts = contract_frames(
        [fee("DE", "visit", code, 10000, "EUR") for code in ("1", "2", "3")]
        + [fee("DE", "screen_failure", "SF", 5000, "EUR"),
           fee("DE", "one_time", "STARTUP", 100000, "EUR"),
           fee("DE", "invoiceable", "UNSCHEDULED", 4000, "EUR"),
           fee("DE", "invoiceable", "IRB", 20000, "EUR", cap=1)],
        [terms("DE", "10", sf_ratio="0.25")], {"701": "DE", "799": "FR"})
    earned = earned_frame([
        item("701", "701-001", "visit", "1", "2014-01-02", 10000, "EUR", "10"),  # A
        item("701", "701-001", "visit", "2", "2014-01-16", 10000, "EUR", "10"),  # B
        item("701", "701-001", "visit", "3", "2014-02-01", 10000, "EUR", "10"),  # C
        item("701", "701-002", "visit", "1", "2014-01-05", 10000, "EUR", "10"),  # D accrual
        item("701", None, "one_time", "STARTUP", "2014-01-01", 100000, "EUR", "10"),  # E
        item("701", "701-003", "screen_failure", "SF", "2014-01-10", 5000, "EUR", "10",
             status="sf_over_cap"),  # F held
        item("701", "701-001", "invoiceable", "UNSCHEDULED", "2014-01-20", 4000, "EUR", "10",
             status="invoice_only"),  # G, earned once invoiced
        item("701", "701-002", "invoiceable", "UNSCHEDULED", "2014-01-22", 4000, "EUR", "10",
             status="invoice_only"),  # H, never invoiced: not earned
    ])
    lines = lines_frame([
        line("INV-1", "2014-02-10", 1, "701", "701-001", "visit", "1", "2014-01-02", 11000),
        line("INV-1", "2014-02-10", 2, "701", "701-001", "visit", "2", "2014-01-18", 12000),
        line("INV-1", "2014-02-10", 3, "701", "701-001", "visit", "3", "2014-02-01", 10000),
        line("INV-1", "2014-02-10", 4, "701", "701-001", "visit", "1", "2014-01-02", 11000),
        line("INV-1", "2014-02-10", 5, "701", "701-001", "visit", "4", "2014-02-15", 11000),
        line("INV-1", "2014-02-10", 6, "701", "701-003", "screen_failure", "SF",
             "2014-01-10", 5500),
        line("INV-1", "2014-02-10", 7, "701", "701-002", "visit", "2", "2014-01-20", 11000),
        line("INV-1", "2014-02-10", 8, "701", None, "one_time", "STARTUP", "2014-01-03",
             110000),
        line("INV-1", "2014-02-10", 9, "701", "701-001", "invoiceable", "UNSCHEDULED",
             "2014-01-20", 4400),
        line("INV-1", "2014-02-10", 10, "701", "701-001", "invoiceable", "IRB",
             "2014-01-25", 22000),
        line("INV-1", "2014-02-10", 11, "701", "701-001", "invoiceable", "IRB",
             "2014-01-28", 22000),
        line("INV-2", "2014-02-11", 1, "701", "701-001", "visit", "3", "2014-02-01", 11000,
             "USD"),
        line("INV-3", "2014-02-12", 1, "701", "701-001", "visit", "2", "2014-01-19", 11000),
        line("INV-4", "2014-02-12", 1, "799", "799-001", "visit", "1", "2014-01-19", 11000),
    ])
    return reconcile(earned, lines, fees, contracts)


HAND_LINES = [  # invoice, line, status, expected, difference, words in the note
    ("INV-1", 1, "matched", 11000, 0, None),
    ("INV-1", 2, "over_billed", 11000, 1000, "billed 120.00 EUR, contract allows 110.00 EUR"),
    ("INV-1", 3, "under_billed", 11000, -1000,
     "billed 100.00 EUR, contract allows 110.00 EUR"),
    ("INV-1", 4, "duplicate", 0, 11000, "same as invoice INV-1 line 1"),
    ("INV-1", 5, "not_in_contract", 0, 11000,
     "no fee for visit 4 on 2014-02-15 in the contract of site 701"),
    ("INV-1", 6, "sf_over_cap", 0, 5500,
     "screen failure 1 of site 701 over the cap of 0 paid (sf_ratio 0.25)"),
    ("INV-1", 7, "not_earned", 0, 11000,
     "no visit 2 for subject 701-002 within 7 days of 2014-01-20"),
    ("INV-1", 8, "matched", 110000, 0, None),
    ("INV-1", 9, "matched", 4400, 0, None),
    ("INV-1", 10, "matched", 22000, 0, None),
    ("INV-1", 11, "not_earned", 0, 22000, "IRB 2 for subject 701-001 over the cap of 1"),
    ("INV-2", 1, "wrong_currency", None, None, "invoice in USD, the contract is in EUR"),
    ("INV-3", 1, "duplicate", 0, 11000,
     "visit 2 for subject 701-001 on 2014-01-16 already billed on invoice INV-1 line 2"),
    ("INV-4", 1, "not_in_contract", 0, 11000, "site 799 has no contract"),
]


def test_hand_worked_example_gives_each_status_expected_and_difference() -> None:
    rec = hand_example()
    got = rec.lines
    assert set(got["status"]) == set(LINE_STATUSES)
    for invoice, no, status, expected, difference, note in HAND_LINES:
        row = got[(got["invoice_id"] == invoice) & (got["line_no"] == no)].iloc[0]
        assert row["status"] == status, (invoice, no, row["note"])
        for column, want in (("expected_minor", expected), ("difference_minor", difference)):
            if want is None:
                assert pd.isna(row[column]), (invoice, no, column)
            else:
                assert row[column] == want, (invoice, no, column)
        assert (pd.isna(row["note"]) if note is None else row["note"] == note), row["note"]


def test_hand_worked_example_classes_and_totals() -> None:
    rec = hand_example()
    items = rec.items.set_index(["subject_id", "item_code"])
    classes = {
        ("701-001", "1"): ("matched", "INV-1", 1),
        ("701-001", "2"): ("over_billed", "INV-1", 2),
        ("701-001", "3"): ("under_billed", "INV-1", 3),
        ("701-002", "1"): ("accrual", None, None),
        (pd.NA, "STARTUP"): ("matched", "INV-1", 8),
        ("701-001", "UNSCHEDULED"): ("matched", "INV-1", 9),
        ("701-001", "IRB"): ("matched", "INV-1", 10),
    }
    assert len(rec.items) == len(classes)  # held SF and the uninvoiced unscheduled visit: out
    for (subject, code), (cls, invoice, no) in classes.items():
        row = rec.items[(rec.items["subject_id"].fillna("-") ==
                         ("-" if subject is pd.NA else subject))
                        & (rec.items["item_code"] == code)].iloc[0]
        assert row["item_class"] == cls
        assert (pd.isna(row["invoice_id"]) if invoice is None else row["invoice_id"] == invoice)
        assert (pd.isna(row["line_no"]) if no is None else row["line_no"] == no)
        assert row["status"] == "earned"
    irb = rec.items[rec.items["item_code"] == "IRB"].iloc[0]
    assert (irb["fee_minor"], irb["gross_minor"], irb["holdback_minor"]) == (20000, 22000, 2200)
    assert irb["earned_date"] == pd.Timestamp("2014-02-10")
    assert items.index.is_unique
    totals = rec.check_totals()
    assert totals.invoiced == {"EUR": 11000 * 6 + 12000 + 10000 + 5500 + 110000 + 4400
                               + 22000 * 2, "USD": 11000}
    assert totals.earned == {"EUR": 11000 * 4 + 110000 + 4400 + 22000}
    assert totals.by_class["accrual"] == {"EUR": 11000}
    assert totals.by_class["matched"] == {"EUR": 11000 + 110000 + 4400 + 22000}
    assert totals.by_status["wrong_currency"] == {"EUR": 0, "USD": 11000}
    assert totals.by_status["duplicate"] == {"EUR": 22000, "USD": 0}


def test_the_earliest_line_takes_the_item_and_later_ones_are_duplicates() -> None:
    # one visit on 2014-01-16; A (invoice of 02-01) bills it 3 days off, B and C (03-01)
    # 0 and 3 days off. Line order (invoice_date, invoice_id, line_no) is A, B, C: A
    # takes the item although B is closer; B and C bill an item already billed.
    fees, contracts = contract_frames([fee("DE", "visit", "2", 10000, "EUR")],
                                      [terms("DE", "10")], {"701": "DE"})
    earned = earned_frame([item("701", "X", "visit", "2", "2014-01-16", 10000, "EUR", "10")])
    lines = lines_frame([
        line("A", "2014-02-01", 1, "701", "X", "visit", "2", "2014-01-19", 11000),
        line("B", "2014-03-01", 1, "701", "X", "visit", "2", "2014-01-16", 11000),
        line("C", "2014-03-01", 1, "701", "X", "visit", "2", "2014-01-13", 11000),
    ])
    rec = reconcile(earned, lines, fees, contracts)
    assert list(rec.lines["status"]) == ["matched", "duplicate", "duplicate"]
    assert rec.lines["note"].iloc[1].endswith("already billed on invoice A line 1")
    assert rec.lines["note"].iloc[2].endswith("already billed on invoice A line 1")
    # the order the lines arrive in does not matter, only line order
    rec = reconcile(earned, lines.iloc[[2, 1, 0]], fees, contracts)
    assert list(rec.lines["status"]) == ["duplicate", "duplicate", "matched"]


def test_each_line_takes_its_closest_free_item() -> None:
    # unscheduled visits of X on 01-10 (U1) and 01-14 (U2), 44.00 gross each. Line 1
    # (01-13) is 3 days from U1, 1 from U2: it takes U2. Line 2 (01-12) is 2 days from
    # both; U2 is taken, so U1. Line 3 (01-14) finds both taken: a duplicate of U2's.
    fees, contracts = contract_frames([fee("DE", "invoiceable", "UNSCHEDULED", 4000, "EUR")],
                                      [terms("DE", "10")], {"701": "DE"})
    earned = earned_frame([
        item("701", "X", "invoiceable", "UNSCHEDULED", day, 4000, "EUR", "10",
             status="invoice_only", occurrence=n) | {"item_ref": f"SV 1.{n} #1"}
        for n, day in ((1, "2014-01-10"), (2, "2014-01-14"))])
    lines = lines_frame([
        line("A", "2014-02-01", n, "701", "X", "invoiceable", "UNSCHEDULED", day, 4400)
        for n, day in ((1, "2014-01-13"), (2, "2014-01-12"), (3, "2014-01-14"))])
    rec = reconcile(earned, lines, fees, contracts)
    assert list(rec.lines["status"]) == ["matched", "matched", "duplicate"]
    assert rec.lines["note"].iloc[2] == ("unscheduled visit for subject X on 2014-01-14 "
                                         "already billed on invoice A line 1")
    taken = rec.items.set_index(rec.items["service_date"].dt.strftime("%m-%d"))[
        "line_no"].to_dict()
    assert taken == {"01-10": 2, "01-14": 1}
    # once a line earns an unscheduled visit, the line identifies it (payments key)
    assert set(rec.items["item_ref"]) == {"invoice A line 1", "invoice A line 2"}


def test_check_totals_refuses_totals_that_do_not_add_up() -> None:
    rec = hand_example()
    broken = rec.lines.copy()
    broken.loc[0, "status"] = "paid"
    with pytest.raises(ReconciliationError, match="status outside"):
        Reconciliation(broken, rec.items).check_totals()
    items = rec.items.copy()
    items.loc[0, "item_class"] = "over_billed"
    with pytest.raises(ReconciliationError, match="over_billed"):
        Reconciliation(rec.lines, items).check_totals()


def test_json_has_the_cli_shape_with_exact_decimal_strings() -> None:
    out = reconciliation_json(hand_example(), STUDY)
    assert set(out) == {"study_id", "lines", "accruals", "totals"}
    assert set(out["totals"]) == {"invoiced", "earned", "by_status"}
    assert out["lines"][1] == {"invoice_id": "INV-1", "line_no": 2, "status": "over_billed",
                               "expected": "110.00", "invoiced": "120.00",
                               "difference": "10.00", "currency": "EUR"}
    wrong = next(x for x in out["lines"] if x["status"] == "wrong_currency")
    assert wrong["expected"] is None and wrong["difference"] is None
    assert out["accruals"] == [{"site_id": "701", "subject_id": "701-002", "item_code": "1",
                                "service_date": "2014-01-05", "amount": "110.00",
                                "currency": "EUR"}]
    assert out["totals"]["earned"] == {"EUR": "1804.00"}
    by_status = out["totals"]["by_status"]
    assert set(by_status) == set(LINE_STATUSES)
    for cur, total in out["totals"]["invoiced"].items():
        assert sum(Decimal(v[cur]) for v in by_status.values()) == Decimal(total)
    texts = [x[k] for x in out["lines"] for k in ("expected", "invoiced", "difference")
             if x[k] is not None]
    assert all(isinstance(t, str) and str(Decimal(t)) == t for t in texts)


def test_money_columns_stay_integer() -> None:
    rec = hand_example()
    for frame, schema in ((rec.lines, RECONCILED_LINES), (rec.items, RECONCILED_ITEMS)):
        pd.testing.assert_frame_equal(frame, schema.conform(frame))
        for column in frame.columns:
            if column.endswith("_minor"):
                assert str(frame[column].dtype) in ("int64", "Int64"), column


# --------------------------------------------------------------------------- properties

CURRENCIES = ("EUR", "USD", "JPY", "GBP")
COUNTRIES = ("DE", "US", "JP")
OVERHEADS = ("0", "10", "12.5", "26", "33.33")
BASE = pd.Timestamp("2014-01-01")
AMENDED_FROM = pd.Timestamp("2014-03-01")
ITEM_CLASS_OF = {"ok": "matched", "over": "over_billed", "under": "under_billed",
                 "duplicate": "matched", "rebilled": "matched", "dropped": "accrual",
                 "currency": "accrual"}
LINE_STATUS_OF = {"ok": "matched", "over": "over_billed", "under": "under_billed",
                  "duplicate": "matched", "currency": "wrong_currency"}
PERTURBATIONS = st.sampled_from(["ok", "ok", "ok", "over", "under", "duplicate", "rebilled",
                                 "dropped", "currency"])


def gross_of(fee_minor: int, overhead: str) -> int:
    """fee × (1 + overhead/100), rounded half up with Decimal (independent of the module)."""
    return int((Decimal(fee_minor) * (1 + Decimal(overhead) / 100))
               .quantize(Decimal(1), rounding=ROUND_HALF_UP))


def day(offset: int) -> str:
    return (BASE + pd.Timedelta(days=offset)).strftime("%Y-%m-%d")


class Invoices:
    """Invoice lines built per site, each with the status it must get."""

    def __init__(self) -> None:
        self.rows: list[dict] = []
        self.expected: list[str] = []
        self.numbers: dict[str, int] = {}

    def add(self, invoice: str, invoice_date: str, site: str, subject: str | None,
            item_type: str, code: str, date: str, amount: int, currency: str,
            status: str) -> None:
        self.numbers[invoice] = self.numbers.get(invoice, 0) + 1
        self.rows.append(line(invoice, invoice_date, self.numbers[invoice], site, subject,
                              item_type, code, date, amount, currency))
        self.expected.append(status)


@st.composite
def scenarios(draw: st.DrawFn) -> dict:
    """Random contracts, earned items and an invoice derived from them, perturbed."""
    fee_rows, term_rows, sites, earned_rows, item_class = [], [], {}, [], {}
    invoices = Invoices()
    created: list[tuple[str, int]] = []  # (currency, gross) of items the invoices earn
    for s in range(draw(st.integers(1, 3))):
        site, country = f"7{s}", COUNTRIES[s]
        sites[site] = country
        cur = draw(st.sampled_from(CURRENCIES))
        other = draw(st.sampled_from([c for c in CURRENCIES if c != cur]))
        overhead = draw(st.sampled_from(OVERHEADS))
        term_rows.append(terms(country, overhead, sf_ratio="0.25"))
        codes = [str(v) for v in range(1, draw(st.integers(2, 4)) + 1)]
        amount = st.integers(0, 200_000)
        grid = {code: draw(amount) for code in codes}
        fee_rows += [fee(country, "visit", code, a, cur) for code, a in grid.items()]
        amended = draw(st.none() | amount)
        if amended is not None:  # a dated amendment of visit 1
            fee_rows.append(fee(country, "visit", "1", amended, cur, since="2014-03-01"))
        override = draw(st.none() | amount)
        if override is not None:  # the site's own fee for visit 2
            fee_rows.append(fee(country, "visit", "2", override, cur, site=site))
        prices = {code: draw(amount) for code in ("SF", "STARTUP", "UNSCHEDULED", "IRB")}
        irb_cap = draw(st.none() | st.integers(1, 2))
        fee_rows += [fee(country, "screen_failure", "SF", prices["SF"], cur),
                     fee(country, "one_time", "STARTUP", prices["STARTUP"], cur),
                     fee(country, "invoiceable", "UNSCHEDULED", prices["UNSCHEDULED"], cur),
                     fee(country, "invoiceable", "IRB", prices["IRB"], cur, cap=irb_cap)]

        def fee_on(code: str, date: str, site: str = site, grid: dict = grid,
                   amended: int | None = amended, override: int | None = override) -> int:
            if code == "1" and amended is not None and pd.Timestamp(date) >= AMENDED_FROM:
                return amended
            if code == "2" and override is not None:
                return override
            return grid[code]

        main, dup, wrong = f"M{site}", f"D{site}", f"W{site}"
        wanted: list[tuple] = []  # (subject, type, code, date, fee, status)
        subjects = [f"{site}-{k:03d}" for k in range(draw(st.integers(1, 3)))]
        for subject in subjects:
            for code in codes:
                date = day(draw(st.integers(0, 300)))
                wanted.append((subject, "visit", code, date, fee_on(code, date), "earned"))
            for j in draw(st.sets(st.integers(0, 9), max_size=2)):  # 30 days apart
                wanted.append((subject, "invoiceable", "UNSCHEDULED", day(30 * j),
                               prices["UNSCHEDULED"], "invoice_only"))
        for k in range(draw(st.integers(0, 2))):
            wanted.append((f"{site}-SF{k}", "screen_failure", "SF", day(draw(st.integers(0, 300))),
                           prices["SF"], draw(st.sampled_from(["earned", "sf_over_cap"]))))
        wanted.append((None, "one_time", "STARTUP", "2013-12-01", prices["STARTUP"], "earned"))
        for n, (subject, kind, code, date, fee_minor, status) in enumerate(wanted):
            source = f"item-{site}-{n}"
            earned_rows.append(item(site, subject, kind, code, date, fee_minor, cur, overhead,
                                    status=status, country=country)
                               | {"source": source})
            gross = gross_of(fee_minor, overhead)
            assert earned_rows[-1]["gross_minor"] == gross
            tag = draw(PERTURBATIONS)
            if status == "sf_over_cap":
                if tag != "dropped":
                    invoices.add(main, "2015-01-15", site, subject, kind, code, date, gross,
                                 cur, "sf_over_cap")
                continue
            if gross == 0 and tag == "under":
                tag = "over"
            if tag not in ("dropped", "currency") or status == "earned":
                item_class[source] = ITEM_CLASS_OF[tag]
            if tag in ("dropped", "currency") and status == "invoice_only":
                item_class.pop(source, None)  # never invoiced: not earned
            if tag == "dropped":
                continue
            shift = 0 if tag == "duplicate" else draw(st.integers(-7, 7))
            billed = (gross + draw(st.integers(1, 10_000)) if tag == "over"
                      else gross - draw(st.integers(1, gross)) if tag == "under" else gross)
            service = (pd.Timestamp(date) + pd.Timedelta(days=shift)).strftime("%Y-%m-%d")
            if tag == "rebilled":  # billed again later on another date: the earlier line
                again = draw(st.integers(-7, 7).filter(lambda x, s=shift: x != s))  # wins,
                invoices.add(main, "2015-01-15", site, subject, kind, code, service, billed,
                             cur, "matched")  # however close the later one is
                later = (pd.Timestamp(date) + pd.Timedelta(days=again)).strftime("%Y-%m-%d")
                invoices.add(dup, "2015-02-01", site, subject, kind, code, later, billed, cur,
                             "duplicate")
                continue
            invoices.add(wrong if tag == "currency" else main, "2015-01-15", site, subject,
                         kind, code, service, billed, other if tag == "currency" else cur,
                         LINE_STATUS_OF[tag])
            if tag == "duplicate":
                again = draw(st.sampled_from([main, dup]))
                invoices.add(again, "2015-02-01" if again == dup else "2015-01-15", site,
                             subject, kind, code, service, billed, cur, "duplicate")
        # lines for visits that do not exist, and for items not in the contract
        for k in range(draw(st.integers(0, 2))):
            code = draw(st.sampled_from(codes))
            date = day(draw(st.integers(0, 300)))
            invoices.add(main, "2015-01-15", site, f"GHOST-{site}-{k}", "visit", code, date,
                         gross_of(fee_on(code, date), overhead), cur, "not_earned")
        for k in range(draw(st.integers(0, 2))):
            invoices.add(main, "2015-01-15", site, subjects[0], "visit", "99", day(k), 100,
                         cur, "not_in_contract")
        # invoiceable items earned by the invoice itself, within the cap counted in line
        # order (not service-date order: the dates come in any order)
        irb_gross = gross_of(prices["IRB"], overhead)
        for who in (subjects[0], None):
            dates = draw(st.lists(st.integers(0, 300), unique=True, max_size=3))
            for rank, offset in enumerate(dates, start=1):
                within = irb_cap is None or rank <= irb_cap
                if within:
                    created.append((cur, irb_gross))
                invoices.add(main, "2015-01-15", site, who, "invoiceable", "IRB", day(offset),
                             irb_gross, cur, "matched" if within else "not_earned")
    # invoice lines arrive in any order
    order = draw(st.permutations(range(len(invoices.rows))))
    fees, contracts = contract_frames(fee_rows, term_rows, sites)
    return {"earned": earned_frame(earned_rows), "fees": fees, "contracts": contracts,
            "lines": lines_frame([invoices.rows[i] for i in order]),
            "status": [invoices.expected[i] for i in order], "item_class": item_class,
            "created": created, "earned_rows": earned_rows}


def _sum_by(pairs: list[tuple[str, int]]) -> dict[str, int]:
    out: dict[str, int] = {}
    for cur, value in pairs:
        out[cur] = out.get(cur, 0) + value
    return out


@pytest.mark.heavy(20)  # seconds on 2 slow cores; a parallel run starts it first
@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(scenarios())
def test_every_perturbation_lands_in_its_class_and_totals_add_up(case: dict) -> None:
    rec = reconcile(case["earned"], case["lines"], case["fees"], case["contracts"])
    lines, items = rec.lines, rec.items
    assert len(lines) == len(case["lines"])
    wrong = [(r.invoice_id, r.line_no, r.status, want, r.note)
             for r, want in zip(lines.itertuples(), case["status"], strict=True)
             if r.status != want]
    assert not wrong
    # every earned item once, in its class; the invoice's own items as matched
    from_earned = items[items["source"].str.startswith("item-")]
    assert dict(zip(from_earned["source"], from_earned["item_class"], strict=True)) == \
        case["item_class"]
    by_invoice = items[items["source"].str.startswith("invoice ")]
    assert sorted(zip(by_invoice["currency"], by_invoice["gross_minor"], strict=True)) == \
        sorted(case["created"])
    assert set(by_invoice["item_class"]) <= {"matched"}
    # totals, recomputed here from the generated rows
    invoiced = _sum_by([(r["currency"], r["amount_minor"]) for r in case["lines"].to_dict(
        "records")])
    gross = {r["source"]: (r["currency"], r["gross_minor"]) for r in case["earned_rows"]}
    earned = _sum_by([gross[s] for s in case["item_class"]] + case["created"])
    totals = rec.check_totals()
    assert totals.invoiced == invoiced
    assert totals.earned == earned
    for cur in invoiced:
        assert sum(sums.get(cur, 0) for sums in totals.by_status.values()) == invoiced[cur]
        billed = [(s, r["amount_minor"]) for s, r in zip(
            case["status"], case["lines"].to_dict("records"), strict=True)
            if r["currency"] == cur]
        for status in LINE_STATUSES:
            assert totals.by_status[status].get(cur, 0) == sum(a for s, a in billed
                                                               if s == status)
    for cur in earned:
        assert sum(sums.get(cur, 0) for sums in totals.by_class.values()) == earned[cur]
        classed = [(case["item_class"][s], gross[s][1]) for s in case["item_class"]
                   if gross[s][0] == cur] + [("matched", g) for c, g in case["created"]
                                             if c == cur]
        for cls in ITEM_CLASSES:
            assert totals.by_class[cls].get(cur, 0) == sum(g for c, g in classed if c == cls)
    # money stays integer, and the JSON's amounts are exact decimal strings
    for frame in (lines, items):
        for column in frame.columns:
            if column.endswith("_minor"):
                assert str(frame[column].dtype) in ("int64", "Int64"), column
    out = reconciliation_json(rec, STUDY)
    billed_minor = {(r.invoice_id, r.line_no): r.amount_minor for r in lines.itertuples()}
    for row in out["lines"]:
        assert isinstance(row["invoiced"], str)
        assert Decimal(row["invoiced"]) == from_minor(
            billed_minor[(row["invoice_id"], row["line_no"])], row["currency"])
    for cur, text in out["totals"]["earned"].items():
        assert isinstance(text, str) and Decimal(text) == from_minor(earned[cur], cur)


def test_no_lines_or_no_items() -> None:
    fees, contracts = contract_frames([fee("DE", "visit", "1", 10000, "EUR")],
                                      [terms("DE", "10")], {"701": "DE"})
    earned = earned_frame([item("701", "X", "visit", "1", "2014-01-02", 10000, "EUR", "10")])
    billed = lines_frame([line("A", "2014-02-01", 1, "701", "X", "visit", "1", "2014-01-02",
                               11000)])
    rec = reconcile(earned, lines_frame([]), fees, contracts)
    assert list(rec.items["item_class"]) == ["accrual"]
    assert rec.check_totals().earned == {"EUR": 11000}
    rec = reconcile(earned_frame([]), billed, fees, contracts)
    assert list(rec.lines["status"]) == ["not_earned"] and rec.items.empty
    rec = reconcile(earned_frame([]), lines_frame([]), fees, contracts)
    assert reconciliation_json(rec, STUDY)["lines"] == []
    assert rec.check_totals().invoiced == {}
