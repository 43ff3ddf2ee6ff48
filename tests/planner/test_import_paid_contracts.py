"""Fee imports that money already paid, or the store's precision, must refuse."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from pathlib import Path

from sqlalchemy import Engine, select

from planner.payment_tables import PaymentLine, PaymentRun
from planner.store import transaction
from planner.tables import Site, Study
from tests.planner.test_import_site_budgets import (
    DATA,
    FEES_HEADER,
    load_base,
    refused,
    run,
    write,
)


def test_a_three_decimal_currency_is_refused(store: Engine, tmp_path: Path) -> None:
    load_base(store)
    path = write(tmp_path, "fees.csv", FEES_HEADER
                 + "ONC-301,,DE,visit,1,Screening,100.125,KWD,2026-01-01,\n")
    issues = refused(store, "fees", path)
    assert any("row 2, column currency" in i and "'KWD'" in i and "three-decimal" in i
               for i in issues), issues


def _pay_site(engine: Engine, site_id: str, currency: str) -> None:
    """An approved run that paid one line to ``site_id`` of ONC-301 in ``currency``."""
    with transaction(engine, "tester") as session:
        study = session.scalars(select(Study).where(Study.study_id == "ONC-301")).one()
        site = session.scalars(select(Site).where(Site.study_pk == study.id,
                                                  Site.site_id == site_id)).one()
        run_row = PaymentRun(study_pk=study.id, at=dt.datetime.now(dt.UTC), actor="tester",
                             through=dt.date(2026, 3, 31), reporting_currency=currency,
                             inputs_sha256="0" * 64, totals={})
        session.add(run_row)
        session.flush()
        session.add(PaymentLine(run_pk=run_row.id, site_pk=site.id, kind="item",
                                subject_id=None, item_type=None, item_code="STARTUP",
                                occurrence=1, service_date=dt.date(2026, 2, 1),
                                gross=Decimal("100.00"), holdback=Decimal("10.00"),
                                already_paid=Decimal(0), amount=Decimal("90.00"),
                                currency=currency, fx_rate=Decimal(1),
                                reporting_amount=Decimal("90.00"), reporting_currency=currency))


def test_a_paid_contract_keeps_its_currency(store: Engine, tmp_path: Path) -> None:
    load_base(store, "fees", "terms")
    _pay_site(store, "1001", "EUR")
    stored = (DATA / "fees.csv").read_text()
    # the DE template, which site 1001 is paid under, switched to US dollars
    switched = stored.replace(",EUR,", ",USD,")
    issues = refused(store, "fees", write(tmp_path, "fees.csv", switched))
    assert any("column currency" in i and "'USD'" in i and "site 1001 was paid in" in i
               for i in issues), issues
    # the same file as stored changes nothing and is accepted
    assert run(store, "fees", DATA / "fees.csv").changed == 0
