"""The sponsor budget's inputs imported from hand-made files (DESIGN §7,
docs/SPONSOR_BUDGET.md): work orders with their change orders, and timesheets.

Runs on SQLite and, with TEST_POSTGRES_URL, on PostgreSQL (the ``store`` fixture).
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from sqlalchemy import select

from contracts.work_order_frames import load_timesheets, load_work_order
from planner.budget_tables import Timesheet, WorkOrderLine
from planner.store import transaction
from planner.tables import AuditEntry
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

HEADER = ("study_id,service_line,driver,units,unit_price,currency,effective_from,change_order,"
          "reason\n")
TIMESHEET_HEADER = "staff_id,study_id,month,hours\n"
STUDIES = "a study_id already in the store (import studies first)"
HOURS = "a number from 0 to 744 with at most 2 decimals, like 62.5 or 7.25 (required)"


def _lines(engine) -> list[WorkOrderLine]:  # noqa: ANN001
    with transaction(engine, "tester") as session:
        return list(session.scalars(select(WorkOrderLine).order_by(WorkOrderLine.id)))


def _hours(engine) -> list[tuple]:  # noqa: ANN001
    with transaction(engine, "tester") as session:
        return [tuple(r) for r in session.execute(
            select(Timesheet.month, Timesheet.hours).order_by(Timesheet.id))]


def test_work_orders_land_exact(store) -> None:  # noqa: ANN001
    load_base(store)
    result = run(store, "workorders", DATA / "workorders.csv")
    assert result.counts["work_order_line"] == {"insert": 10, "update": 0, "unchanged": 0}
    lines = _lines(store)
    assert all(isinstance(w.units, Decimal) and isinstance(w.unit_price, Decimal)
               for w in lines)
    pm, sm, dm, biostat = lines[:4]
    assert (pm.service_line, pm.driver, pm.units, pm.unit_price, pm.currency) == (
        "project_management", "months", Decimal("36"), Decimal("12500.00"), "EUR")
    assert (pm.change_order, pm.reason, pm.effective_from) == (None, None, dt.date(2026, 1, 1))
    assert sm.unit_price == Decimal("1450.50") and str(sm.unit_price) == "1450.50"
    assert dm.units == Decimal("48000.50") and str(dm.units) == "48000.50"  # never a float
    assert (biostat.service_line, biostat.driver) == ("biostatistics", "deliverables")  # any case
    change = lines[6]
    assert (change.service_line, change.change_order, change.units) == (
        "site_management", "CO-01", Decimal("1350"))
    assert (change.effective_from, change.reason) == (dt.date(2026, 9, 1),
                                                      "Ten more sites in Poland")
    assert lines[9].unit_price == Decimal("7500.25") and lines[9].currency == "USD"


def test_timesheets_land(store) -> None:  # noqa: ANN001
    load_base(store)
    result = run(store, "timesheets", DATA / "timesheets.csv")
    assert result.counts["timesheet"] == {"insert": 4, "update": 0, "unchanged": 0}
    assert _hours(store)[:2] == [(dt.date(2026, 1, 1), 62.5), (dt.date(2026, 2, 1), 70.0)]


def test_same_files_twice_change_nothing(store) -> None:  # noqa: ANN001
    load_base(store, "workorders", "timesheets")
    before, audited = snapshot(store), audit_rows(store)
    for kind in ("workorders", "timesheets"):
        result = run(store, kind, DATA / f"{kind}.csv")
        assert result.changed == 0 and result.batch_pk is None
    assert snapshot(store) == before and audit_rows(store) == audited


def test_a_change_order_for_a_stored_line_is_a_new_row_and_a_change_an_update(
        store, tmp_path) -> None:  # noqa: ANN001
    load_base(store, "workorders")
    path = write(tmp_path, "co.csv", HEADER
                 + "ONC-301,data_management,crf_pages,52000,2.35,EUR,2027-01-01,CO-03,"
                   "More pages per visit\n"
                 + "ONC-301,site_management,monitoring_visits,1400,1450.50,eur,2026-09-01,"
                   "CO-01,Twelve more sites in Poland\n")
    result = run(store, "workorders", path, actor="finance")
    assert result.counts["work_order_line"] == {"insert": 1, "update": 1, "unchanged": 0}
    lines = {(w.service_line, w.change_order): w for w in _lines(store)}
    assert lines["data_management", "CO-03"].units == Decimal("52000")
    assert lines["site_management", "CO-01"].units == Decimal("1400")
    assert lines["site_management", None].units == Decimal("1200")  # the original stays
    with transaction(store, "tester") as session:
        entry = session.scalars(select(AuditEntry).where(
            AuditEntry.batch_pk == result.batch_pk, AuditEntry.action == "update")).one()
    assert entry.entity_key == {"study_id": "ONC-301", "service_line": "site_management",
                                "change_order": "CO-01"}
    assert (entry.before["units"], entry.after["units"]) == ("1350.00", "1400.00")
    assert entry.actor == "finance" and entry.source == "co.csv, row 3"


def test_a_file_without_reasons_keeps_the_stored_ones(store, tmp_path) -> None:  # noqa: ANN001
    load_base(store, "workorders")
    path = write(tmp_path, "co.csv", HEADER.replace(",reason", "")
                 + "ONC-301,site_management,monitoring_visits,1350,1450.50,EUR,2026-09-01,"
                   "CO-01\n")
    assert run(store, "workorders", path).changed == 0
    assert _lines(store)[6].reason == "Ten more sites in Poland"


def test_a_later_timesheet_replaces_the_hours(store, tmp_path) -> None:  # noqa: ANN001
    load_base(store, "timesheets")
    path = write(tmp_path, "timesheets.csv", TIMESHEET_HEADER + "PM-001,ONC-301,2026-02,75.5\n")
    result = run(store, "timesheets", path)
    assert result.counts["timesheet"] == {"insert": 0, "update": 1, "unchanged": 0}
    assert _hours(store)[1] == (dt.date(2026, 2, 1), 75.5)


def test_timesheet_hours_are_stored_exact(store, tmp_path) -> None:  # noqa: ANN001
    load_base(store)
    path = write(tmp_path, "timesheets.csv", TIMESHEET_HEADER + "PM-001,ONC-301,2026-03,7.25\n"
                 + "PM-001,ONC-301,2026-04,0.1\n" + "PM-001,ONC-301,2026-05,743.99\n")
    assert run(store, "timesheets", path).changed == 3
    hours = [h for _, h in _hours(store)]
    assert all(isinstance(h, Decimal) for h in hours)
    assert [str(h) for h in hours] == ["7.25", "0.10", "743.99"]
    again = write(tmp_path, "again.csv", TIMESHEET_HEADER + "PM-001,ONC-301,2026-04,0.10\n")
    assert run(store, "timesheets", again).changed == 0  # 0.10 is 0.1
    with transaction(store, "tester") as session:
        frame = load_timesheets(session, "ONC-301")
    assert sorted(frame["hours"]) == [0.1, 7.25, 743.99] and frame["hours"].dtype == "float64"


GOOD = ("ONC-301,project_management,months,36,12500.00,EUR,2026-01-01,,\n"
        "ONC-301,site_management,monitoring_visits,1200,1450.50,EUR,2026-01-01,,")
# each rule, one row: (the row, the issue it must give); every row has its own key, and the
# change orders of project_management each their own date
BAD_WORK_ORDERS = {
    "unknown study": ("XYZ,project_management,months,36,12500.00,EUR,2026-01-01,,",
                      f"column study_id: value 'XYZ': expected {STUDIES}"),
    "unknown service line": ("ONC-301,travel,months,36,100.00,EUR,2026-02-01,CO-A,",
                             "column service_line: value 'travel': expected one of "
                             "project_management, site_management, data_management, "
                             "biostatistics, medical_writing, pharmacovigilance, regulatory, "
                             "pass_through (required)"),
    "unknown driver": ("ONC-301,project_management,visits,36,100.00,EUR,2026-03-01,CO-B,",
                       "column driver: value 'visits': expected one of months, sites_activated, "
                       "monitoring_visits, subjects_randomized, crf_pages, deliverables, fixed "
                       "(required)"),
    "negative units": ("ONC-301,project_management,months,-5,12500.00,EUR,2026-04-01,CO-C,",
                       "column units: value '-5': expected a number of units >= 0 with at most "
                       "2 decimals, like 36 or 1250.5 (required)"),
    "three-decimal units": ("ONC-301,project_management,months,36.125,12500.00,EUR,2026-05-01,"
                            "CO-D,",
                            "column units: value '36.125': expected a number of units >= 0 "
                            "with at most 2 decimals, like 36 or 1250.5 (required)"),
    "no units": ("ONC-301,project_management,months,,12500.00,EUR,2026-05-15,CO-E,",
                 "column units: value '': expected a number of units >= 0 with at most 2 "
                 "decimals, like 36 or 1250.5 (required)"),
    "three-decimal price": ("ONC-301,project_management,months,36,12500.125,EUR,2026-06-01,"
                            "CO-F,",
                            "column unit_price: value '12500.125': expected an amount >= 0 in "
                            "EUR with at most 2 decimals, like 1250.00 (required)"),
    "negative price": ("ONC-301,project_management,months,36,-1.00,EUR,2026-07-01,CO-G,",
                       "column unit_price: value '-1.00': expected an amount >= 0 in EUR with "
                       "at most 2 decimals, like 1250.00 (required)"),
    "mixed currencies": ("ONC-301,project_management,months,40,12500.00,USD,2026-08-01,CO-H,",
                         "column currency: value 'USD': expected EUR, the reporting currency "
                         "of study ONC-301 (a study's work order is in one currency, its "
                         "study's; this file mixes EUR, USD for ONC-301)"),
    "not the study's currency": ("CV-201,project_management,months,24,9800.00,EUR,2026-02-01,,",
                                 "column currency: value 'EUR': expected USD, the reporting "
                                 "currency of study CV-201 (a study's work order is in one "
                                 "currency, its study's)"),
    "currency not ISO 4217": ("ONC-301,project_management,months,36,1.00,EUX,2026-09-01,CO-N,",
                              "column currency: value 'EUX': expected an ISO 4217 currency "
                              "code like EUR (required)"),
    "change order for an unknown line": (
        "ONC-301,regulatory,deliverables,2,5000.00,EUR,2026-09-01,CO-I,Extra submissions",
        "column service_line: value 'regulatory': expected a service line with an original "
        "work order row (change_order blank) for study ONC-301, in this file or the store: "
        "CO-I is a change order for an unknown service line (to add a line, give it an "
        "original row with units 0)"),
    "change order before the original": (
        "ONC-301,site_management,monitoring_visits,1300,1450.50,EUR,2025-12-01,CO-J,",
        "column effective_from: value '2025-12-01': expected a date on or after 2026-01-01, "
        "the effective_from of the original work order of site_management of study ONC-301 "
        "(a change order cannot take effect before it)"),
    "change order with another driver": (
        "ONC-301,site_management,sites_activated,60,1450.50,EUR,2026-10-01,CO-K,",
        "column driver: value 'sites_activated': expected monitoring_visits, the driver of the "
        "original work order of site_management of study ONC-301 (a change order amends "
        "units and unit price, not the driver)"),
    "change order id too long": (
        "ONC-301,project_management,months,36,1.00,EUR,2026-10-01," + "C" * 65 + ",",
        f"column change_order: value '{'C' * 65}': expected text of at most 64 characters"),
    "bad date": ("ONC-301,project_management,months,36,1.00,EUR,2026-02-30,CO-M,",
                 "column effective_from: value '2026-02-30': expected an ISO date YYYY-MM-DD "
                 "(required)"),
    "the same line again": ("ONC-301,Project_Management,months,38,12500.00,EUR,2026-01-01,,",
                            "column study_id, service_line, change_order: value "
                            "'ONC-301/Project_Management/': expected a key that appears only "
                            "once in the file"),
}


def test_bad_work_orders_are_refused_with_where_and_what(store, tmp_path) -> None:  # noqa: ANN001
    load_base(store)
    good, second = GOOD.split("\n")
    cases = {"second good row": (second, None), **BAD_WORK_ORDERS}
    rows = [row for row, _ in cases.values()]
    issues = refused(store, "workorders", write(tmp_path, "workorders.csv",
                                                HEADER + "\n".join([good, *rows]) + "\n"))
    expected = [f"workorders.csv, row {n}, {issue}"
                for n, (_, issue) in enumerate(cases.values(), start=3) if issue is not None]
    assert sorted(issues) == sorted(expected)


def test_mixed_currencies_for_one_study_are_refused(store, tmp_path) -> None:  # noqa: ANN001
    load_base(store)
    path = write(tmp_path, "workorders.csv", HEADER + GOOD + "\n"
                 + "ONC-301,data_management,crf_pages,48000,2.35,USD,2026-01-01,,\n")
    assert refused(store, "workorders", path) == [
        "workorders.csv, row 4, column currency: value 'USD': expected EUR, the reporting "
        "currency of study ONC-301 (a study's work order is in one currency, its study's; "
        "this file mixes EUR, USD for ONC-301)"]


def test_a_change_order_needs_an_original_in_the_file_or_the_store(store, tmp_path) -> None:  # noqa: ANN001, E501
    load_base(store, "workorders")  # CV-201 has project_management and regulatory lines
    path = write(tmp_path, "co.csv", HEADER
                 + "CV-201,regulatory,deliverables,4,7500.25,USD,2026-06-01,CO-1,One more\n"
                 + "CV-201,data_management,crf_pages,9000,1.80,USD,2026-06-01,CO-1,New line\n")
    assert refused(store, "workorders", path) == [
        "co.csv, row 3, column service_line: value 'data_management': expected a service "
        "line with an original work order row (change_order blank) for study CV-201, in this "
        "file or the store: CO-1 is a change order for an unknown service line (to add a "
        "line, give it an original row with units 0)"]
    added = write(tmp_path, "added.csv", HEADER
                  + "CV-201,data_management,crf_pages,0,1.80,USD,2026-02-01,,\n"
                  + "CV-201,data_management,crf_pages,9000,1.80,USD,2026-06-01,CO-1,New line\n")
    assert run(store, "workorders", added).counts["work_order_line"]["insert"] == 2


def test_change_orders_stay_consistent_with_the_stored_lines(store, tmp_path) -> None:  # noqa: ANN001
    load_base(store, "workorders")  # CO-02 of project_management from 2027-03-01
    same_day = write(tmp_path, "co.csv", HEADER
                     + "ONC-301,project_management,months,44,12750.00,EUR,2027-03-01,CO-03,\n")
    assert refused(store, "workorders", same_day) == [
        "co.csv, row 2, column effective_from: value '2027-03-01': expected a date no other "
        "change order of project_management takes effect on: CO-02 also takes effect on "
        "2027-03-01 (a line's budget on a date is its latest row, so their order must be "
        "clear)"]
    later = write(tmp_path, "original.csv", HEADER
                  + "ONC-301,project_management,months,36,12500.00,EUR,2027-06-01,,\n")
    assert refused(store, "workorders", later) == [
        "original.csv, row 2, column effective_from: value '2027-06-01': expected a date on "
        "or before 2027-03-01, when stored change order CO-02 of project_management takes "
        "effect (a change order cannot take effect before the original)"]



def test_a_study_whose_currency_changed_needs_its_whole_work_order_again(store, tmp_path) -> None:  # noqa: ANN001, E501
    load_base(store, "workorders")
    studies = (DATA / "studies.csv").read_text().replace(",USD,24,", ",EUR,24,")
    run(store, "studies", write(tmp_path, "studies.csv", studies))  # CV-201 now reports in EUR
    path = write(tmp_path, "co.csv", HEADER
                 + "CV-201,regulatory,deliverables,4,7000.00,EUR,2026-06-01,CO-1,\n")
    assert refused(store, "workorders", path) == [
        "co.csv, row 2, column currency: value 'EUR': expected a work order in one currency: "
        "study CV-201's reporting currency is EUR, but the store holds its project_management, "
        "regulatory rows in USD; import them again in EUR with this file"]
    again = write(tmp_path, "again.csv", HEADER
                  + "CV-201,project_management,months,24,9000.00,EUR,2026-02-01,,\n"
                  + "CV-201,regulatory,deliverables,3,7000.00,EUR,2026-02-01,,\n"
                  + "CV-201,regulatory,deliverables,4,7000.00,EUR,2026-06-01,CO-1,\n")
    assert run(store, "workorders", again).counts["work_order_line"] == {
        "insert": 1, "update": 2, "unchanged": 0}

TIMESHEET_ROW = "PM-001,ONC-301,2026-03,10"
BAD_TIMESHEETS = {
    "unknown staff": ("XX-999,ONC-301,2026-03,10",
                      "column staff_id: value 'XX-999': expected the staff_id of a staff "
                      "member in the store (import staff first)"),
    "unknown study": ("PM-001,XYZ,2026-03,10", f"column study_id: value 'XYZ': expected {STUDIES}"),
    "not a month": ("PM-001,ONC-301,2026-13,10",
                    "column month: value '2026-13': expected a month YYYY-MM (required)"),
    "a date, not a month": ("PM-001,ONC-301,2026-04-01,10",
                            "column month: value '2026-04-01': expected a month YYYY-MM "
                            "(required)"),
    "more hours than a month has": ("PM-001,ONC-301,2026-05,800",
                                    f"column hours: value '800': expected {HOURS}"),
    "negative hours": ("PM-001,ONC-301,2026-06,-1", f"column hours: value '-1': expected {HOURS}"),
    # would block the budget later (AC rounds hours in hundredths): refused here, exactly
    "three decimals": ("PM-001,ONC-301,2026-07,7.125",
                       f"column hours: value '7.125': expected {HOURS}"),
    "hundredths off by a float": ("PM-001,ONC-301,2026-08,0.1000000001",
                                  f"column hours: value '0.1000000001': expected {HOURS}"),
    "not plain decimal text": ("PM-001,ONC-301,2026-09,1e2",
                               f"column hours: value '1e2': expected {HOURS}"),
    "blank hours": ("PM-001,ONC-301,2026-10,", f"column hours: value '': expected {HOURS}"),
    "the same month again": ("PM-001,ONC-301,2026-03,12",
                             "column staff_id, study_id, month: value "
                             "'PM-001/ONC-301/2026-03': expected a key that appears only once "
                             "in the file"),
}


def test_bad_timesheets_are_refused_with_where_and_what(store, tmp_path) -> None:  # noqa: ANN001
    load_base(store)
    refused_rows(store, tmp_path, "timesheets", TIMESHEET_HEADER, TIMESHEET_ROW, BAD_TIMESHEETS)


def test_frames_from_the_store(store) -> None:  # noqa: ANN001
    load_base(store, "workorders", "timesheets")
    with transaction(store, "tester") as session:
        work_order = load_work_order(session, "ONC-301")
        timesheets = load_timesheets(session, "ONC-301")
        nothing = load_work_order(session, "XYZ")
    assert list(work_order["service_line"][:4]) == [
        "project_management", "project_management", "site_management", "site_management"]
    assert list(work_order["change_order"].fillna("")[:4]) == ["", "CO-02", "", "CO-01"]
    assert work_order["units"].map(type).eq(Decimal).all()
    assert work_order["units"].iloc[4] == Decimal("48000.50")
    assert work_order["unit_price_minor"].dtype == "int64"
    assert list(work_order["unit_price_minor"][:3]) == [1_250_000, 1_275_000, 145_050]
    assert str(work_order["effective_from"].dtype) == "datetime64[s]"
    assert work_order["reason"].iloc[1] == "Enrollment extended by six months"
    assert nothing.empty and list(nothing.columns) == list(work_order.columns)
    assert list(timesheets["staff_id"]) == ["CRA-001", "PM-001", "PM-001"]
    assert list(timesheets["role"]) == ["CRA", "PM", "PM"]
    assert timesheets["hours"].dtype == "float64" and timesheets["hours"].sum() == 252.5
    assert timesheets["cost_rate"].iloc[1] == Decimal("110.25")
    assert list(timesheets["cost_currency"]) == ["EUR"] * 3
    assert str(timesheets["month"].dtype) == "datetime64[s]"
