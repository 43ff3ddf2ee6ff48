"""Site invoices imported from hand-made files (DESIGN §7): one row per line.

Runs on SQLite and, with TEST_POSTGRES_URL, on PostgreSQL (the ``store`` fixture).
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from openpyxl import Workbook
from sqlalchemy import select

from planner.payment_tables import Invoice, InvoiceLine
from planner.store import transaction
from tests.conftest import snapshot
from tests.planner.test_import_site_budgets import (
    DATA,
    audit_rows,
    load_base,
    refused,
    refused_rows,
    run,
    write,
)
from tests.trialplan.cli_runner import trialplan

HEADER = ("invoice_id,study_id,site_id,invoice_date,currency,line_no,item_type,item_code,"
          "subject_id,service_date,amount\n")
LINE = "INV-7,ONC-301,1001,2026-05-31,EUR,1,visit,1,ONC-301-1001-002,2026-05-04,1638.00"


def _lines(engine) -> list[tuple]:  # noqa: ANN001
    with transaction(engine, "tester") as session:
        return [tuple(row) for row in session.execute(
            select(Invoice.invoice_id, Invoice.invoice_date, Invoice.currency,
                   InvoiceLine.line_no, InvoiceLine.item_type, InvoiceLine.item_code,
                   InvoiceLine.subject_id, InvoiceLine.service_date, InvoiceLine.amount)
            .join(Invoice, InvoiceLine.invoice_pk == Invoice.id)
            .order_by(Invoice.id, InvoiceLine.line_no))]


def test_invoices_land_exact_and_twice_change_nothing(store) -> None:  # noqa: ANN001
    load_base(store, "fees", "terms")
    result = run(store, "invoices", DATA / "invoices.csv")
    assert result.counts == {"invoice": {"insert": 3, "update": 0, "unchanged": 0},
                             "invoice_line": {"insert": 5, "update": 0, "unchanged": 0}}
    lines = _lines(store)
    assert lines[0] == ("INV-1001-01", dt.date(2026, 3, 31), "EUR", 1, "visit", "1",
                        "ONC-301-1001-001", dt.date(2026, 3, 2), Decimal("1638.00"))
    assert [line[5] for line in lines] == ["1", "2", "STARTUP", "SF", "1"]  # canonical codes
    assert lines[2][6] is None  # a site-level item has no subject
    assert [line[8] for line in lines] == [Decimal("1638.00"), Decimal("1071.00"),
                                           Decimal("3150.00"), Decimal("391.50"),
                                           Decimal("1260.00")]
    assert all(isinstance(line[8], Decimal) for line in lines)
    before, audited = snapshot(store), audit_rows(store)
    again = run(store, "invoices", DATA / "invoices.csv")
    assert again.changed == 0 and again.batch_pk is None
    assert snapshot(store) == before and audit_rows(store) == audited


def test_a_new_invoice_is_added_beside_the_stored_ones(store, tmp_path) -> None:  # noqa: ANN001
    load_base(store, "fees", "terms", "invoices")
    path = write(tmp_path, "may.csv", HEADER + LINE + "\n"
                 + "INV-7,ONC-301,1001,2026-05-31,EUR,2,invoiceable,unscheduled,"
                 "ONC-301-1001-002,2026-05-20,189.00\n")
    result = run(store, "invoices", path)
    assert result.counts["invoice_line"] == {"insert": 2, "update": 0, "unchanged": 0}
    assert [line[5] for line in _lines(store)][-2:] == ["1", "UNSCHEDULED"]


def test_an_xlsx_invoice_with_numeric_cells(store, tmp_path) -> None:  # noqa: ANN001
    load_base(store, "fees", "terms")
    book = Workbook()
    sheet = book.active
    sheet.title = "Invoices"
    sheet.append(HEADER.strip().split(","))
    sheet.append(["INV-8", "ONC-301", 1002, dt.datetime(2026, 6, 30), "EUR", 1, "visit", 2.0,
                  "ONC-301-1002-001", dt.datetime(2026, 6, 1), 1071.5])
    book.save(tmp_path / "invoice.xlsx")
    run(store, "invoices", tmp_path / "invoice.xlsx")
    assert _lines(store) == [("INV-8", dt.date(2026, 6, 30), "EUR", 1, "visit", "2",
                              "ONC-301-1002-001", dt.date(2026, 6, 1), Decimal("1071.50"))]


# each rule, one line: (the line, the issue it must give); INV-7 is the good line's invoice
BAD_LINES = {
    "unknown study": ("INV-11,XYZ,1001,2026-05-31,EUR,1,visit,2,S-1,2026-05-04,10.00",
                      "column study_id: value 'XYZ': expected a study_id already in the store "
                      "(import studies first)"),
    "site of another study": ("INV-12,ONC-301,3001,2026-05-31,EUR,1,visit,2,S-1,2026-05-04,"
                              "10.00", "column site_id: value '3001': expected a site_id of "
                              "ONC-301 in the store (import sites first)"),
    "three decimals in EUR": ("INV-13,ONC-301,1001,2026-05-31,EUR,1,visit,2,S-1,2026-05-04,"
                              "10.005", "column amount: value '10.005': expected an amount "
                              ">= 0 in EUR with at most 2 decimals, like 1250.00 (credit notes "
                              "are out of scope: a negative amount is refused) (required)"),
    "decimals in JPY": ("INV-14,ONC-301,1001,2026-05-31,JPY,1,visit,2,S-1,2026-05-04,1500.5",
                        "column amount: value '1500.5': expected a whole amount >= 0 like "
                        "1250: JPY has no minor unit, so no decimals (credit notes are out of "
                        "scope: a negative amount is refused) (required)"),
    "a credit note": ("INV-15,ONC-301,1001,2026-05-31,EUR,1,visit,2,S-1,2026-05-04,-10.00",
                      "column amount: value '-10.00': expected an amount >= 0 in EUR with at "
                      "most 2 decimals, like 1250.00 (credit notes are out of scope: a "
                      "negative amount is refused) (required)"),
    "currency not ISO 4217": ("INV-16,ONC-301,1001,2026-05-31,EUX,1,visit,2,S-1,2026-05-04,"
                              "10.00", "column currency: value 'EUX': expected an ISO 4217 "
                              "currency code like EUR (required)"),
    "visit code not a number": ("INV-17,ONC-301,1001,2026-05-31,EUR,1,visit,Week 2,S-1,"
                                "2026-05-04,10.00", "column item_code: value 'Week 2': "
                                "expected a visit number (VISITNUM) such as 1, 2 or 3.5 for "
                                "a visit fee"),
    "unknown one-time code": ("INV-18,ONC-301,1001,2026-05-31,EUR,1,one_time,SETUP,,"
                              "2026-05-04,10.00", "column item_code: value 'SETUP': expected "
                              "one of STARTUP, IRB, PHARMACY, CLOSEOUT, ARCHIVING for a "
                              "one_time fee"),
    "no service date": ("INV-19,ONC-301,1001,2026-05-31,EUR,1,visit,2,S-1,,10.00",
                        "column service_date: value '': expected an ISO date YYYY-MM-DD "
                        "(required)"),
    "another date on one invoice": ("INV-7,ONC-301,1001,2026-06-01,EUR,2,visit,2,S-1,"
                                    "2026-05-04,10.00", "column invoice_date: value "
                                    "'2026-06-01': expected 2026-05-31, as on row 2, the first "
                                    "line of invoice INV-7 (every line repeats its invoice's "
                                    "header)"),
    "another site on one invoice": ("INV-7,ONC-301,1002,2026-05-31,EUR,3,visit,2,S-1,"
                                    "2026-05-04,10.00", "column site_id: value '1002': "
                                    "expected 1001, as on row 2, the first line of invoice "
                                    "INV-7 (every line repeats its invoice's header)"),
    "another currency on one invoice": ("INV-7,ONC-301,1001,2026-05-31,USD,4,visit,2,S-1,"
                                        "2026-05-04,10.00", "column currency: value 'USD': "
                                        "expected EUR, as on row 2, the first line of invoice "
                                        "INV-7 (every line repeats its invoice's header)"),
    "a repeated line": ("INV-7,ONC-301,1001,2026-05-31,EUR,1,visit,2,S-1,2026-05-04,10.00",
                        "column invoice_id, line_no: value 'INV-7/1': expected a key that "
                        "appears only once in the file"),
}


def test_bad_invoice_lines_are_refused_with_where_and_what(store, tmp_path) -> None:  # noqa: ANN001, E501
    load_base(store, "fees", "terms")
    refused_rows(store, tmp_path, "invoices", HEADER, LINE, BAD_LINES)


@pytest.mark.parametrize(("contract", "missing"), [
    ((), "terms and fees"), (("terms",), "fees"), (("fees",), "terms")])
def test_an_invoice_of_a_site_without_a_contract_is_refused(
        store, tmp_path, contract: tuple[str, ...], missing: str) -> None:  # noqa: ANN001
    load_base(store, *contract)
    path = write(tmp_path, "invoices.csv", HEADER + LINE + "\n"
                 + LINE.replace(",1,visit,1,", ",2,visit,2,") + "\n")
    assert refused(store, "invoices", path) == [
        f"invoices.csv, row 2, column site_id: value '1001': expected a site with a contract "
        f"in the store: site 1001 has no {missing} of its own or of its country's template "
        "(import fees and terms first)"]


def test_a_site_with_template_fees_but_no_terms_has_no_contract(store, tmp_path) -> None:  # noqa: ANN001, E501
    load_base(store, "fees", "terms")  # site 2001 (US): the US fee template, no US terms
    path = write(tmp_path, "invoices.csv",
                 HEADER + "US-1,ONC-301,2001,2026-05-31,USD,1,visit,1,S-1,2026-05-04,10.00\n")
    assert refused(store, "invoices", path) == [
        "invoices.csv, row 2, column site_id: value '2001': expected a site with a contract "
        "in the store: site 2001 has no terms of its own or of its country's template "
        "(import fees and terms first)"]


@pytest.mark.parametrize(("change", "other"), [
    (("1071", "1171"), "lines (stored: 3)"),
    (("2026-03-31,EUR,3", "2026-03-31,EUR,4"), "lines (stored: 3)"),
    (("INV-1001-01,ONC-301,1001,2026-03-31", "INV-1001-01,ONC-301,1001,2026-04-01"),
     "invoice_date (stored: 2026-03-31)"),
])
def test_a_stored_invoice_with_other_content_needs_a_new_id(
        store, tmp_path, change: tuple[str, str], other: str) -> None:  # noqa: ANN001
    load_base(store, "fees", "terms", "invoices")
    text = (DATA / "invoices.csv").read_text().replace(*change)
    assert refused(store, "invoices", write(tmp_path, "again.csv", text)) == [
        "again.csv, row 2, column invoice_id: value 'INV-1001-01': expected an invoice_id not "
        f"yet stored: INV-1001-01 is already stored for site 1001 with other {other}; a "
        "stored invoice is never changed, so a correction needs a new invoice id"]


def test_a_stored_invoice_missing_a_line_needs_a_new_id(store, tmp_path) -> None:  # noqa: ANN001
    load_base(store, "fees", "terms", "invoices")
    text = "".join(line for line in (DATA / "invoices.csv").read_text().splitlines(True)
                   if ",3,one_time," not in line)
    issues = refused(store, "invoices", write(tmp_path, "again.csv", text))
    assert len(issues) == 1 and "with other lines (stored: 3)" in issues[0]


def test_cli_import_exit_2_and_nothing_stored(store, tmp_path) -> None:  # noqa: ANN001
    load_base(store)
    url = store.url.render_as_string(hide_password=False)
    before = snapshot(store)
    bad = write(tmp_path, "fees.csv", (DATA / "fees.csv").read_text().replace("1234.5",
                                                                              "1234.567"))
    result = trialplan(url, "import", "fees", str(bad))
    assert result.exit_code == 2
    assert "fees.csv, row 2, column amount: value '1234.567'" in result.output
    assert snapshot(store) == before
    for kind in ("fees", "terms", "invoices"):
        ok = trialplan(url, "import", kind, str(DATA / f"{kind}.csv"))
        assert ok.exit_code == 0, ok.output
