"""Fast set-based writes inside the caller's transaction.

PostgreSQL gets ``COPY``; SQLite gets a DBAPI ``executemany`` of tuples;
any other dialect goes through SQLAlchemy Core. Values must already be plain
Python (str, int, float, Decimal, date, bool, None); JSON columns take
already-serialized text.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Sequence
from decimal import Decimal
from typing import Any

from sqlalchemy import JSON, Date, DateTime, Table, bindparam, insert, update
from sqlalchemy.orm import Session

from planner.tables import MoneyAmount


def _sqlite_value(value: Any) -> Any:
    """Dates as SQLAlchemy's SQLite dialect stores them (ISO text, UTC for timestamps)."""
    if isinstance(value, dt.datetime):
        if value.tzinfo is not None:
            value = value.astimezone(dt.UTC).replace(tzinfo=None)
        return value.isoformat(sep=" ")
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value)  # exact amounts are decimal text on SQLite (tables.MoneyAmount)
    return value


def insert_rows(session: Session, table: Table, columns: Sequence[str],
                rows: Sequence[tuple]) -> None:
    """Insert ``rows`` (tuples in ``columns`` order) into ``table``."""
    if not rows:
        return
    connection = session.connection()
    dialect = connection.dialect.name
    if dialect == "postgresql":
        cursor = connection.connection.driver_connection.cursor()
        names = ", ".join(f'"{c}"' for c in columns)
        with cursor.copy(f'COPY "{table.name}" ({names}) FROM STDIN') as copy:
            for row in rows:
                copy.write_row(row)
        return
    if dialect == "sqlite":
        if any(isinstance(table.c[c].type, Date | DateTime | MoneyAmount) for c in columns):
            rows = [tuple(_sqlite_value(v) for v in row) for row in rows]
        names = ", ".join(f'"{c}"' for c in columns)
        marks = ", ".join("?" for _ in columns)
        cursor = connection.connection.driver_connection.cursor()
        cursor.executemany(f'INSERT INTO "{table.name}" ({names}) VALUES ({marks})', rows)
        return
    json_cols = {c for c in columns if isinstance(table.c[c].type, JSON)}
    records = [
        {c: (json.loads(v) if c in json_cols and v is not None else v)
         for c, v in zip(columns, row, strict=True)}
        for row in rows
    ]
    session.execute(insert(table), records)


def update_rows(session: Session, table: Table, columns: Sequence[str],
                rows: Sequence[tuple]) -> None:
    """Update by primary key ``id``: each tuple is (id, *values in ``columns`` order)."""
    if not rows:
        return
    statement = update(table).where(table.c.id == bindparam("_pk")).values(
        {c: bindparam(f"_v_{c}") for c in columns})
    params = [{"_pk": row[0], **{f"_v_{c}": v for c, v in zip(columns, row[1:], strict=True)}}
              for row in rows]
    session.connection().execute(statement, params)
