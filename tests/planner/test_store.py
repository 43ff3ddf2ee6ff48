"""The store itself on SQLite and PostgreSQL: migrations, exact money, the ORM audit hook."""

from __future__ import annotations

from decimal import Decimal

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import func, select

from planner.store import (
    SchemaOutOfDate,
    head_revision,
    make_engine,
    require_current_schema,
    transaction,
    upgrade,
)
from planner.tables import AuditEntry, Base, Country, Staff
from tests.conftest import snapshot


def test_migrations_build_exactly_the_models(store) -> None:  # noqa: ANN001
    """Golden check: the migrated schema and the SQLAlchemy models agree."""
    with store.connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": False})
        assert compare_metadata(context, Base.metadata) == []


def test_init_twice_is_a_no_op(store) -> None:  # noqa: ANN001
    before = snapshot(store)
    assert upgrade(store) == head_revision()
    assert snapshot(store) == before


def test_uninitialised_store_is_refused(store_url) -> None:  # noqa: ANN001
    engine = make_engine(store_url)
    with pytest.raises(SchemaOutOfDate):
        require_current_schema(engine)
    engine.dispose()


def test_reference_countries_and_working_hours(store) -> None:  # noqa: ANN001
    with transaction(store, "tester") as session:
        hours = dict(session.execute(select(Country.code, Country.working_hours_month)).all())
    assert len(hours) == 249
    assert (hours["US"], hours["DE"], hours["JP"]) == (178.0, 143.0, 165.0)


@pytest.mark.parametrize("amount", ["0.01", "95.50", "9999999999999999.99", "-1234.56"])
def test_money_column_keeps_every_digit(store, amount) -> None:  # noqa: ANN001
    with transaction(store, "tester") as session:
        session.add(Staff(staff_id="S1", name="N", role="CRA", home_country="DE",
                          languages=["de"], fte=1.0, capacity_hours_month=143.0,
                          cost_rate=Decimal(amount), currency="EUR"))
    with transaction(store, "tester") as session:
        stored = session.scalars(select(Staff.cost_rate)).one()
    assert isinstance(stored, Decimal)
    assert stored == Decimal(amount)


def test_orm_writes_are_audited_with_before_and_after(store) -> None:  # noqa: ANN001
    with transaction(store, "pm.anna") as session:
        session.add(Staff(staff_id="S1", name="Old Name", role="CRA", home_country="DE",
                          languages=["de"], fte=1.0, capacity_hours_month=143.0,
                          cost_rate=Decimal("90.00"), currency="EUR"))
    with transaction(store, "pm.anna") as session:
        staff = session.scalars(select(Staff)).one()
        staff.name = "New Name"
    with transaction(store, "pm.anna") as session:
        session.delete(session.scalars(select(Staff)).one())
    with transaction(store, "tester") as session:
        entries = session.scalars(select(AuditEntry).where(AuditEntry.entity == "staff")
                                  .order_by(AuditEntry.id)).all()
        countries = session.scalar(select(func.count()).select_from(AuditEntry).where(
            AuditEntry.entity == "country", AuditEntry.actor == "trialplan init"))
    assert [e.action for e in entries] == ["insert", "update", "delete"]
    assert all(e.actor == "pm.anna" for e in entries)
    assert entries[0].after["cost_rate"] == "90.00"
    assert (entries[1].before["name"], entries[1].after["name"]) == ("Old Name", "New Name")
    assert entries[2].before["name"] == "New Name" and entries[2].after is None
    assert countries == 249  # even the reference data loaded by init is audited


def test_failed_unit_of_work_leaves_nothing(store) -> None:  # noqa: ANN001
    before = snapshot(store)
    with pytest.raises(RuntimeError), transaction(store, "tester") as session:
        session.add(Staff(staff_id="S1", name="N", role="CRA", home_country="DE",
                          languages=[], fte=1.0, capacity_hours_month=143.0,
                          cost_rate=Decimal("1.00"), currency="EUR"))
        session.flush()
        raise RuntimeError("boom")
    assert snapshot(store) == before
