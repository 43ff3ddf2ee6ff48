"""`trialplan reconcile` and `trialplan pay` on the demo portfolio (its fees, terms and
invoices with mistakes): totals recomputed from the lines, runs frozen, nothing paid twice."""

from __future__ import annotations

import csv
import json
from collections import defaultdict
from decimal import Decimal
from pathlib import Path

import openpyxl
import pytest
from sqlalchemy import create_engine, func, select

from contracts.payment_export import read_lines_csv
from planner.forecast_runs import known_study_ids
from planner.payment_freeze import FrozenRunError
from planner.payment_tables import PaymentLine, PaymentRun, ReconciliationRun
from planner.store import transaction
from tests.conftest import copy_store
from tests.trialplan.cli_runner import trialplan
from trialplan.demo import DEMO_AS_OF
from trialplan.demo.payments import build_site_payments

STUDY = "AUR-ONC-301"
QUARTER_END = "2026-09-30"  # the demo approved every study through it
MONTH_END = "2026-10-31"


@pytest.fixture(scope="module")
def demo_copy(demo_template: Path, tmp_path_factory: pytest.TempPathFactory) -> str:
    return copy_store(demo_template, tmp_path_factory.mktemp("payments"))


@pytest.fixture(scope="module")
def every_reconciliation(demo_copy: str) -> dict[str, dict]:
    with transaction(create_engine(demo_copy), "tester") as session:
        studies = known_study_ids(session)
    assert STUDY in studies and len(studies) > 1  # every study of the demo, not one
    out = {}
    for study in studies:
        result = trialplan(demo_copy, "reconcile", study, "--json")
        assert result.exit_code == 0, result.output
        out[study] = json.loads(result.stdout)
    return out


def _sum(values: list[tuple[str, str]]) -> dict[str, Decimal]:
    sums: dict[str, Decimal] = defaultdict(Decimal)
    for currency, amount in values:
        sums[currency] += Decimal(amount)
    return dict(sums)


def test_totals_add_up_from_the_lines_and_accruals(every_reconciliation: dict) -> None:
    for study, doc in every_reconciliation.items():
        lines, totals = doc["lines"], doc["totals"]
        invoiced = _sum([(line["currency"], line["invoiced"]) for line in lines])
        assert invoiced == {c: Decimal(a) for c, a in totals["invoiced"].items()}, study
        for status, by_currency in totals["by_status"].items():
            mine = _sum([(x["currency"], x["invoiced"]) for x in lines if x["status"] == status])
            assert mine == {c: Decimal(a) for c, a in by_currency.items() if Decimal(a)}, status
        # earned = what the matched lines were expected to bill + what nobody billed yet
        billed_items = [(x["currency"], x["expected"]) for x in lines
                        if x["status"] in ("matched", "over_billed", "under_billed")]
        accruals = [(a["currency"], a["amount"]) for a in doc["accruals"]]
        assert _sum(billed_items + accruals) == {
            c: Decimal(a) for c, a in totals["earned"].items()}, study
        for line in lines:
            if line["status"] == "wrong_currency":
                assert line["expected"] is None and line["difference"] is None
            else:
                assert (Decimal(line["invoiced"]) - Decimal(line["expected"])
                        == Decimal(line["difference"]))
            if line["status"] == "matched":
                assert Decimal(line["difference"]) == 0
            assert isinstance(line["invoiced"], str)


def test_the_demo_mistakes_are_all_caught(every_reconciliation: dict) -> None:
    seen = {line["status"] for doc in every_reconciliation.values() for line in doc["lines"]}
    assert seen == {"matched", "over_billed", "under_billed", "duplicate", "not_earned",
                    "not_in_contract", "sf_over_cap", "wrong_currency"}
    for doc in every_reconciliation.values():
        wrong = {x["invoice_id"] for x in doc["lines"] if x["status"] == "wrong_currency"}
        for line in doc["lines"]:  # a wrong-currency invoice is wrong on every line
            if line["invoice_id"] in wrong:
                assert line["status"] == "wrong_currency"
        over = [x for x in doc["lines"] if x["status"] == "over_billed"]
        assert all(Decimal(x["difference"]) > 0 for x in over)
        under = [x for x in doc["lines"] if x["status"] == "under_billed"]
        assert all(Decimal(x["difference"]) < 0 for x in under)


def test_one_site_and_a_stored_run(demo_copy: str, every_reconciliation: dict) -> None:
    site = every_reconciliation[STUDY]["lines"][0]["invoice_id"].split("-")[-2]
    result = trialplan(demo_copy, "reconcile", STUDY, "--site", site, "--json")
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)
    assert doc["lines"] and all(f"-{site}-" in x["invoice_id"] for x in doc["lines"])
    everything = [x for x in every_reconciliation[STUDY]["lines"]
                  if f"-{site}-" in x["invoice_id"]]
    assert doc["lines"] == everything  # a site's lines classify as in the whole study's run
    engine = create_engine(demo_copy)
    with transaction(engine, "tester") as session:
        runs = session.scalar(select(func.count(ReconciliationRun.id)))
    again = trialplan(demo_copy, "reconcile", STUDY, "--site", site, "--json")
    assert again.exit_code == 0
    with transaction(engine, "tester") as session:
        assert session.scalar(select(func.count(ReconciliationRun.id))) == runs  # same inputs


@pytest.mark.parametrize("args, message", [
    (["reconcile", "NOPE-1"], "not in the store"),
    (["reconcile", STUDY, "--site", "9999"], "not a site of"),
    (["pay", STUDY, "--through", "2026-13-01"], "ISO date"),
    (["pay", STUDY, "-o", "run.pdf"], ".xlsx or .csv"),
    (["pay", STUDY, "--approve", "-o", "/no/such/folder/run.csv"], "does not exist"),
])
def test_bad_requests_exit_2(demo_copy: str, args: list[str], message: str) -> None:
    engine = create_engine(demo_copy)
    with transaction(engine, "tester") as session:
        runs = session.scalar(select(func.count(PaymentRun.id)))
    result = trialplan(demo_copy, *args)
    assert result.exit_code == 2
    assert message in result.output
    with transaction(engine, "tester") as session:  # nothing approved on the way
        assert session.scalar(select(func.count(PaymentRun.id))) == runs


def test_pay_approve_freezes_and_never_pays_twice(demo_copy: str, tmp_path: Path) -> None:
    again = trialplan(demo_copy, "pay", STUDY, "--through", QUARTER_END, "--approve")
    assert again.exit_code == 0 and "nothing to pay" in again.output  # the demo paid it
    engine = create_engine(demo_copy)
    with transaction(engine, "tester") as session:
        before = [r.id for r in session.scalars(select(PaymentRun)).all()]
    preview = trialplan(demo_copy, "pay", STUDY, "--through", MONTH_END, "--json")
    assert preview.exit_code == 0, preview.output
    first = trialplan(demo_copy, "pay", STUDY, "--through", MONTH_END, "--approve",
                      "-o", str(tmp_path / "run.csv"), "--json")
    assert first.exit_code == 0, first.output
    doc = json.loads(first.stdout)
    assert doc["approved"] and doc["totals"] == json.loads(preview.stdout)["totals"]
    with (tmp_path / "run.csv").open(newline="", encoding="utf-8") as handle:
        paid = _sum([(row["currency"], row["amount"]) for row in csv.DictReader(handle)])
    frame = read_lines_csv(tmp_path / "run.csv")
    assert str(frame["amount_minor"].dtype) == "int64"
    assert paid == {c: Decimal(a) for c, a in doc["totals"]["paid_now"].items()}
    second = trialplan(demo_copy, "pay", STUDY, "--through", MONTH_END, "--approve")
    assert second.exit_code == 0 and "nothing to pay" in second.output
    assert "no run was stored" in second.output
    with transaction(engine, "tester") as session:
        runs = session.scalars(select(PaymentRun)).all()
        assert [r.id for r in runs] == [*before, doc["run_id"]]
        stored = _sum([(x.currency, str(x.amount)) for x in session.scalars(
            select(PaymentLine).where(PaymentLine.run_pk == doc["run_id"]))])
        assert stored == paid
    with pytest.raises(FrozenRunError), transaction(engine, "tester") as session:
        line = session.scalars(select(PaymentLine).limit(1)).one()
        line.amount = line.amount + Decimal("1.00")
        session.flush()
    with transaction(engine, "tester") as session:
        again = _sum([(x.currency, str(x.amount)) for x in session.scalars(
            select(PaymentLine).where(PaymentLine.run_pk == doc["run_id"]))])
    assert again == paid


def test_pay_writes_a_workbook_that_adds_up(demo_copy: str, tmp_path: Path) -> None:
    path = tmp_path / "run.xlsx"
    result = trialplan(demo_copy, "pay", "HLX-MET-101", "-o", str(path), "--json")
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)
    due = [row["due_date"] for row in doc["sites"] if row["due_date"] is not None]
    assert due and all(len(d) == 10 and d[4] == "-" for d in due)  # ISO dates
    book = openpyxl.load_workbook(path)
    assert {"Summary", "Lines"} <= set(book.sheetnames)
    sheet = book["Lines"]
    header = [c.value for c in sheet[1]]
    amount, currency = header.index("amount (exact)"), header.index("currency")
    cells = [(row[currency], row[amount]) for row in sheet.iter_rows(min_row=2, values_only=True)
             if row[amount] is not None]
    assert _sum(cells) == {c: Decimal(a) for c, a in doc["totals"]["paid_now"].items()}


def test_the_demo_contracts_and_invoices_import_once(demo_copy: str) -> None:
    """Fees, terms and invoices went in through the importers; building them again
    changes nothing (same files, same keys)."""
    engine = create_engine(demo_copy)
    with transaction(engine, "tester") as session:
        assert build_site_payments(session, "tester", DEMO_AS_OF) == 0
