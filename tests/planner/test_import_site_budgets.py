"""Site contracts imported from hand-made files: fee grids and terms (DESIGN §7).

Runs on SQLite and, with TEST_POSTGRES_URL, on PostgreSQL (the ``store`` fixture).
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from pathlib import Path

import pytest
from sqlalchemy import Engine, func, select

from planner.importing.issues import ImportRejected
from planner.importing.run import ImportResult, import_files
from planner.payment_tables import SiteFee, SiteTerms
from planner.store import transaction
from planner.tables import AuditEntry, Site
from tests.conftest import snapshot

DATA = Path(__file__).resolve().parents[1] / "data"
FEES_HEADER = ("study_id,site_id,country,item_type,item_code,description,amount,currency,"
               "effective_from,cap\n")
TERMS_HEADER = ("study_id,site_id,country,overhead_pct,holdback_pct,sf_ratio,sf_max,"
                "payment_frequency,terms_days,sf_min\n")


def run(engine: Engine, kind: str, path: Path, actor: str = "tester") -> ImportResult:
    with transaction(engine, actor) as session:
        return import_files(session, kind, [path], actor)


def load_base(engine: Engine, *kinds: str) -> None:
    """Studies, staff and sites of tests/data, then the given kinds' files there."""
    for kind in ("studies", "staff", "sites", *kinds):
        run(engine, kind, DATA / f"{kind}.csv")


def refused(engine: Engine, kind: str, path: Path) -> list[str]:
    """The issues of an import that must be refused, having checked nothing was stored."""
    before = snapshot(engine)
    with pytest.raises(ImportRejected) as caught:
        run(engine, kind, path)
    assert snapshot(engine) == before
    return [str(issue) for issue in caught.value.issues]


def write(folder: Path, name: str, text: str) -> Path:
    path = folder / name
    path.write_text(text)
    return path


def audit_rows(engine: Engine) -> int:
    with engine.connect() as connection:
        return connection.execute(select(func.count()).select_from(AuditEntry)).scalar_one()


def _fees(engine: Engine) -> list[SiteFee]:
    with transaction(engine, "tester") as session:
        return list(session.scalars(select(SiteFee).order_by(SiteFee.id)))


def test_fees_land_exact_with_canonical_codes(store) -> None:  # noqa: ANN001
    load_base(store)
    result = run(store, "fees", DATA / "fees.csv")
    assert result.counts["site_fee"] == {"insert": 10, "update": 0, "unchanged": 0}
    fees = _fees(store)
    screening = fees[0]
    assert isinstance(screening.amount, Decimal) and screening.amount == Decimal("1234.50")
    assert (screening.site_pk, screening.country_code, screening.currency) == (None, "DE", "EUR")
    assert [f.item_code for f in fees[:6]] == ["1", "2", "3.5", "SF", "STARTUP", "UNSCHEDULED"]
    assert all(isinstance(f.amount, Decimal) for f in fees)
    assert fees[5].cap == 2 and fees[0].cap is None
    assert fees[9].amount == Decimal("1000.00")  # CV-201 3001, USD
    with transaction(store, "tester") as session:
        site_1001 = session.scalars(select(Site.id).where(Site.site_id == "1001")).one()
    own = [(f.effective_from, f.amount) for f in fees if f.site_pk == site_1001]
    assert own == [(dt.date(2026, 1, 1), Decimal("1300.00")),  # DEU is DE
                   (dt.date(2026, 7, 1), Decimal("1350.00"))]  # the amendment: a second row


def test_terms_land_exact(store) -> None:  # noqa: ANN001
    load_base(store)
    assert run(store, "terms", DATA / "terms.csv").counts["site_terms"]["insert"] == 3
    with transaction(store, "tester") as session:
        terms = list(session.scalars(select(SiteTerms).order_by(SiteTerms.id)))
    template, site, other = terms
    assert (template.site_pk, template.overhead_pct, template.holdback_pct) == (
        None, Decimal("26"), Decimal("10"))
    assert (template.sf_ratio, template.sf_min, template.sf_max) == (Decimal("0.25"), 1, 10)
    assert site.overhead_pct == Decimal("30.5") and site.sf_ratio == Decimal("0.333333")
    assert all(isinstance(t.overhead_pct, Decimal) for t in terms)
    assert (site.payment_frequency, site.terms_days, site.sf_max) == ("quarterly", 45, None)
    assert other.payment_frequency == "monthly" and other.sf_ratio is None  # "Monthly"


def test_same_files_twice_change_nothing(store) -> None:  # noqa: ANN001
    load_base(store, "fees", "terms")
    before, audited = snapshot(store), audit_rows(store)
    for kind in ("fees", "terms"):
        result = run(store, kind, DATA / f"{kind}.csv")
        assert result.changed == 0 and result.batch_pk is None
    assert snapshot(store) == before and audit_rows(store) == audited


def test_an_amendment_is_a_second_row_and_a_change_an_audited_update(store, tmp_path) -> None:  # noqa: ANN001, E501
    load_base(store, "fees")
    amended = write(tmp_path, "amendment.csv", FEES_HEADER
                    + "ONC-301,,DE,visit,2,Baseline (amendment 2),900.00,EUR,2026-09-01,\n"
                    + "ONC-301,,DE,visit,1,Screening,1240.00,EUR,2026-01-01,\n")
    result = run(store, "fees", amended, actor="finance")
    assert result.counts["site_fee"] == {"insert": 1, "update": 1, "unchanged": 0}
    baseline = [(f.effective_from, f.amount) for f in _fees(store)
                if f.item_code == "2" and f.site_pk is None]
    assert baseline == [(dt.date(2026, 1, 1), Decimal("850.00")),
                        (dt.date(2026, 9, 1), Decimal("900.00"))]
    with transaction(store, "tester") as session:
        entry = session.scalars(select(AuditEntry).where(
            AuditEntry.batch_pk == result.batch_pk, AuditEntry.action == "update")).one()
    assert entry.entity_key == {"study_id": "ONC-301", "country": "DE", "site_id": None,
                                "item_type": "visit", "item_code": "1",
                                "effective": "2026-01-01"}
    assert (entry.before["amount"], entry.after["amount"]) == ("1234.50", "1240.00")
    assert entry.actor == "finance" and entry.source == "amendment.csv, row 3"


ROW = "ONC-301,,DE,visit,2,Baseline,100.00,EUR,2026-01-01,"
# each rule, one row: (the row, the issue it must give); every row has its own key
BAD_FEES = {
    "unknown study": ("XYZ,,DE,visit,1,S,100.00,EUR,2026-01-01,",
                      "column study_id: value 'XYZ': expected a study_id already in the store "
                      "(import studies first)"),
    "site of another study": ("ONC-301,3001,US,visit,1,S,100.00,EUR,2026-01-01,",
                              "column site_id: value '3001': expected a site_id of ONC-301 in "
                              "the store (import sites first), or blank for the country's "
                              "template"),
    "site in another country": ("ONC-301,1001,FR,visit,1,S,100.00,EUR,2026-01-01,",
                                "column country: value 'FR': expected DE, the country of site "
                                "1001"),
    "three decimals in EUR": ("ONC-301,,DE,visit,11,S,100.125,EUR,2026-01-01,",
                              "column amount: value '100.125': expected an amount >= 0 in EUR "
                              "with at most 2 decimals, like 1250.00 (required)"),
    "decimals in JPY": ("ONC-301,,JP,visit,12,S,15000.5,JPY,2026-01-01,",
                        "column amount: value '15000.5': expected a whole amount >= 0 like "
                        "1250: JPY has no minor unit, so no decimals (required)"),
    "negative fee": ("ONC-301,,DE,visit,13,S,-100.00,EUR,2026-01-01,",
                     "column amount: value '-100.00': expected an amount >= 0 in EUR with at "
                     "most 2 decimals, like 1250.00 (required)"),
    "amount as a float text": ("ONC-301,,DE,visit,14,S,1e3,EUR,2026-01-01,",
                               "column amount: value '1e3': expected an amount >= 0 in EUR "
                               "with at most 2 decimals, like 1250.00 (required)"),
    "no amount": ("ONC-301,,DE,visit,15,S,,EUR,2026-01-01,",
                  "column amount: value '': expected an amount >= 0 in EUR with at most 2 "
                  "decimals, like 1250.00 (required)"),
    "currency not ISO 4217": ("ONC-301,,DE,visit,16,S,100.00,EUX,2026-01-01,",
                              "column currency: value 'EUX': expected an ISO 4217 currency "
                              "code like EUR (required)"),
    "visit code not a number": ("ONC-301,,DE,visit,V1,S,100.00,EUR,2026-01-01,",
                                "column item_code: value 'V1': expected a visit number "
                                "(VISITNUM) such as 1, 2 or 3.5 for a visit fee"),
    "unknown one-time code": ("ONC-301,,DE,one_time,SETUP,S,100.00,EUR,2026-01-01,",
                              "column item_code: value 'SETUP': expected one of STARTUP, IRB, "
                              "PHARMACY, CLOSEOUT, ARCHIVING for a one_time fee"),
    "screen-failure code": ("ONC-301,,DE,screen_failure,SCREENFAIL,S,100.00,EUR,2026-01-01,",
                            "column item_code: value 'SCREENFAIL': expected SF for the "
                            "screen_failure fee"),
    "unknown item type": ("ONC-301,,DE,travel,1,S,100.00,EUR,2026-01-01,",
                          "column item_type: value 'travel': expected one of visit, "
                          "invoiceable, one_time, screen_failure (required)"),
    "cap on a visit fee": ("ONC-301,,DE,visit,17,S,100.00,EUR,2026-01-01,3",
                           "column cap: value '3': expected blank: a cap applies to "
                           "invoiceable items only"),
    "bad date": ("ONC-301,,DE,visit,18,S,100.00,EUR,2026-02-30,",
                 "column effective_from: value '2026-02-30': expected an ISO date YYYY-MM-DD "
                 "(required)"),
    "the same item again": ("ONC-301,,DEU,visit,2.0,Again,100.00,EUR,2026-01-01,",
                            "column study_id, country, site_id, item_type, item_code, "
                            "effective_from: value 'ONC-301/DEU//visit/2.0/2026-01-01': "
                            "expected a key that appears only once in the file"),
}


def refused_rows(engine: Engine, folder: Path, kind: str, header: str, good: str,
                 cases: dict[str, tuple[str, str]]) -> None:
    """A file of one good row and one bad row per rule: refused whole, nothing stored, and
    each bad row's issue names its file, row, column, value and what was expected."""
    rows = [row for row, _ in cases.values()]
    issues = refused(engine, kind, write(folder, f"{kind}.csv",
                                         header + "\n".join([good, *rows]) + "\n"))
    expected = [f"{kind}.csv, row {n}, {issue}"
                for n, (_, issue) in enumerate(cases.values(), start=3)]
    assert sorted(issues) == sorted(expected)


def test_bad_fees_are_refused_with_where_and_what(store, tmp_path) -> None:  # noqa: ANN001
    load_base(store)
    refused_rows(store, tmp_path, "fees", FEES_HEADER, ROW, BAD_FEES)


def test_fees_that_may_apply_to_one_site_share_a_currency(store, tmp_path) -> None:  # noqa: ANN001
    load_base(store, "fees")  # the DE template is in EUR
    path = write(tmp_path, "fees.csv", FEES_HEADER
                 + "ONC-301,1002,DE,visit,9,Follow-up,100.00,USD,2026-01-01,\n"
                 + "ONC-301,,FR,visit,1,Screening,100.00,EUR,2026-01-01,\n"
                 + "ONC-301,,FR,visit,2,Baseline,100.00,CHF,2026-01-01,\n")
    assert refused(store, "fees", path) == [
        "fees.csv, row 2, column currency: value 'USD': expected one currency for every fee "
        "that may apply to site 1002 (its own and DE's template): EUR, USD are mixed",
        "fees.csv, row 3, column currency: value 'EUR': expected one currency for every fee "
        "that may apply to FR's template: CHF, EUR are mixed",
        "fees.csv, row 4, column currency: value 'CHF': expected one currency for every fee "
        "that may apply to FR's template: CHF, EUR are mixed",
    ]


def test_a_site_whole_grid_may_change_currency(store, tmp_path) -> None:  # noqa: ANN001
    """The incoming row replaces the stored one of its key: no mix with what it replaces."""
    load_base(store, "fees")
    path = write(tmp_path, "fees.csv", FEES_HEADER
                 + "CV-201,3001,US,visit,1,Screening,950.00,EUR,2026-01-01,\n")
    assert run(store, "fees", path).counts["site_fee"]["update"] == 1
    assert _fees(store)[9].currency == "EUR"


TERMS_ROW = "ONC-301,,DE,26,10,0.25,10,monthly,30,1"
BAD_TERMS = {
    "overhead above 100": ("ONC-301,,FR,101,10,0.25,10,monthly,30,",
                           "column overhead_pct: value '101': expected a percent from 0 to "
                           "100 with at most 4 decimals, like 26 or 12.5 (required)"),
    "negative holdback": ("ONC-301,,IT,26,-1,0.25,10,monthly,30,",
                          "column holdback_pct: value '-1': expected a percent from 0 to 100 "
                          "with at most 4 decimals, like 26 or 12.5 (required)"),
    "holdback too precise": ("ONC-301,,ES,26,10.12345,0.25,10,monthly,30,",
                             "column holdback_pct: value '10.12345': expected a percent from "
                             "0 to 100 with at most 4 decimals, like 26 or 12.5 (required)"),
    "no overhead": ("ONC-301,,NL,,10,0.25,10,monthly,30,",
                    "column overhead_pct: value '': expected a percent from 0 to 100 with at "
                    "most 4 decimals, like 26 or 12.5 (required)"),
    "negative ratio": ("ONC-301,,BE,26,10,-0.25,10,monthly,30,",
                       "column sf_ratio: value '-0.25': expected a ratio from 0 to 1000 with "
                       "at most 6 decimals, like 0.25 (paid screen failures per randomized "
                       "subject; blank: no ratio)"),
    "minimum above maximum": ("ONC-301,,AT,26,10,0.25,5,monthly,30,6",
                              "column sf_min: value '6': expected at most sf_max (5)"),
    "weekly payments": ("ONC-301,,PL,26,10,0.25,10,weekly,30,",
                        "column payment_frequency: value 'weekly': expected one of monthly, "
                        "quarterly (required)"),
    "negative terms": ("ONC-301,,CZ,26,10,0.25,10,monthly,-30,",
                       "column terms_days: value '-30': expected a whole number >= 0 up to "
                       "2147483647 (required)"),
    "site in another country": ("ONC-301,1001,US,26,10,0.25,10,monthly,30,",
                                "column country: value 'US': expected DE, the country of site "
                                "1001"),
    "site of another study": ("CV-201,1001,DE,26,10,0.25,10,monthly,30,",
                              "column site_id: value '1001': expected a site_id of CV-201 in "
                              "the store (import sites first), or blank for the country's "
                              "template"),
    "unknown study": ("XYZ,,DE,26,10,0.25,10,monthly,30,",
                      "column study_id: value 'XYZ': expected a study_id already in the store "
                      "(import studies first)"),
    "the same terms twice": ("ONC-301,,DEU,20,10,0.25,10,monthly,30,1",
                             "column study_id, country, site_id: value 'ONC-301/DEU/': "
                             "expected a key that appears only once in the file"),
}


def test_bad_terms_are_refused_with_where_and_what(store, tmp_path) -> None:  # noqa: ANN001
    load_base(store)
    refused_rows(store, tmp_path, "terms", TERMS_HEADER, TERMS_ROW, BAD_TERMS)


@pytest.mark.parametrize(("kind", "header"), [("fees", FEES_HEADER), ("terms", TERMS_HEADER)])
def test_a_missing_required_column_is_refused_not_crashed(store, tmp_path, kind: str,
                                                          header: str) -> None:  # noqa: ANN001
    load_base(store)
    columns = header.strip().split(",")
    text = ",".join(c for c in columns if c not in ("amount", "overhead_pct")) + "\n"
    row = (ROW if kind == "fees" else TERMS_ROW).split(",")
    dropped = [v for c, v in zip(columns, row, strict=True) if c not in ("amount",
                                                                         "overhead_pct")]
    issues = refused(store, kind, write(tmp_path, f"{kind}.csv", text + ",".join(dropped)))
    assert len(issues) == 1 and issues[0].startswith(f"{kind}.csv, row 1, column ")
