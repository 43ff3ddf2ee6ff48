"""Fast set-based reads and writes inside the caller's transaction.

Writes take columns of plain Python values (dates as ISO ``YYYY-MM-DD``
text, JSON as serialized text) or one constant per column: PostgreSQL gets
``COPY``, SQLite a DBAPI ``executemany``, any other dialect SQLAlchemy Core.
Reads of large tables bypass SQLAlchemy's row objects and type processing:
they fetch raw tuples, with dates selected as ISO text.
"""

from __future__ import annotations

import datetime as dt
import itertools
import json
from collections.abc import Iterator, Sequence
from decimal import Decimal
from typing import Any

import numpy as np
import pandas as pd
from sqlalchemy import JSON, Date, DateTime, Select, String, Table, bindparam, func, insert, update
from sqlalchemy.orm import Session
from sqlalchemy.sql.elements import ColumnElement

from planner.tables import MoneyAmount


class Constant:
    """One value for every row of a column (an audit batch's timestamp, say)."""

    def __init__(self, value: Any) -> None:
        self.value = value


Column = Sequence[Any] | Constant


def _timestamp_text(value: dt.datetime) -> str:
    """A timestamp as SQLAlchemy's SQLite dialect stores it: naive UTC text."""
    if value.tzinfo is not None:
        value = value.astimezone(dt.UTC).replace(tzinfo=None)
    return value.isoformat(sep=" ")


def _for_sqlite(column_type: Any, values: Column) -> Column:
    if isinstance(values, Constant):
        value = values.value
        if isinstance(value, dt.datetime):
            return Constant(_timestamp_text(value))
        return Constant(str(value) if isinstance(value, Decimal) else value)
    if isinstance(column_type, MoneyAmount):  # exact amounts are decimal text on SQLite
        return [None if v is None else str(v) for v in values]
    return values


def _rows(columns: list[Column], count: int) -> list[tuple]:
    iterables = [itertools.repeat(c.value, count) if isinstance(c, Constant) else c
                 for c in columns]
    return list(zip(*iterables, strict=False))


_COPY_SPECIAL = ("\\", "\t", "\n", "\r")
COPY_BLOCK_ROWS = 100_000


def _copy_escape(text: str) -> str:
    return (text.replace("\\", "\\\\").replace("\t", "\\t").replace("\n", "\\n")
            .replace("\r", "\\r"))


def _copy_field(value: Any) -> str:
    """One value in PostgreSQL's COPY text format."""
    if value is None:
        return "\\N"
    if isinstance(value, bool):
        return "t" if value else "f"
    if isinstance(value, dt.datetime):
        return value.isoformat()
    text = str(value)
    return _copy_escape(text) if any(c in text for c in _COPY_SPECIAL) else text


def _copy_column(values: Column, count: int) -> list[str] | str:
    """A column as COPY text fields. Text is checked for special characters in one
    pass; other values are formatted once per distinct value."""
    if isinstance(values, Constant):
        return _copy_field(values.value)
    array = np.asarray(values, dtype=object)
    missing = pd.isna(array)
    if pd.api.types.infer_dtype(array, skipna=True) in ("string", "empty"):
        present = array[~missing]
        joined = "\x00".join(present.tolist())
        if any(c in joined for c in _COPY_SPECIAL):
            array = array.copy()
            array[~missing] = [_copy_escape(t) for t in present]
        return np.where(missing, "\\N", array).tolist()
    codes, uniques = pd.factorize(pd.Series(array, dtype=object), use_na_sentinel=True)
    formatted = np.array([*(_copy_field(u) for u in uniques), "\\N"], dtype=object)
    return formatted[codes].tolist()


def _copy_text(columns: list[Column], count: int) -> Iterator[bytes]:
    """The rows as COPY text, in blocks of at most COPY_BLOCK_ROWS rows."""
    fields = [_copy_column(c, count) for c in columns]
    varying = [f for f in fields if not isinstance(f, str)]
    template = "\t".join("{}" if not isinstance(f, str) else f.replace("{", "{{")
                         .replace("}", "}}") for f in fields) + "\n"
    for start in range(0, count, COPY_BLOCK_ROWS):
        stop = min(start + COPY_BLOCK_ROWS, count)
        block = [template.format(*row)
                 for row in zip(*(f[start:stop] for f in varying), strict=True)] \
            if varying else [template] * (stop - start)
        yield "".join(block).encode()


def _count(columns: list[Column]) -> int:
    sizes = {len(c) for c in columns if not isinstance(c, Constant)}
    if len(sizes) != 1:
        raise ValueError(f"columns of unequal or unknown length: {sorted(sizes)}")
    return sizes.pop()


def insert_columns(session: Session, table: Table, data: dict[str, Column]) -> None:
    """Insert rows given column-wise (see the module docstring for the value forms)."""
    names = list(data)
    count = _count(list(data.values()))
    if count == 0:
        return
    connection = session.connection()
    dialect = connection.dialect.name
    quoted = ", ".join(f'"{c}"' for c in names)
    if dialect == "postgresql":
        cursor = connection.connection.driver_connection.cursor()
        with cursor.copy(f'COPY "{table.name}" ({quoted}) FROM STDIN') as copy:
            for block in _copy_text(list(data.values()), count):
                copy.write(block)
        return
    if dialect == "sqlite":
        columns = [_for_sqlite(table.c[c].type, v) for c, v in data.items()]
        marks = ", ".join("?" for _ in names)
        cursor = connection.connection.driver_connection.cursor()
        cursor.executemany(f'INSERT INTO "{table.name!s}" ({quoted}) VALUES ({marks})',
                           _rows(columns, count))
        return
    records = [dict(zip(names, row, strict=True))
               for row in _rows(list(data.values()), count)]
    for record in records:
        for name in names:
            column_type, value = table.c[name].type, record[name]
            if isinstance(column_type, JSON) and value is not None:
                record[name] = json.loads(value)
            elif isinstance(column_type, Date) and not isinstance(column_type, DateTime) \
                    and isinstance(value, str):
                record[name] = dt.date.fromisoformat(value)
    session.execute(insert(table), records)


def update_rows(session: Session, table: Table, columns: Sequence[str],
                rows: Sequence[tuple]) -> None:
    """Update by primary key ``id``: each tuple is (id, *values in ``columns`` order),
    with values as SQLAlchemy takes them (dates as ``date``)."""
    if not rows:
        return
    statement = update(table).where(table.c.id == bindparam("_pk")).values(
        {c: bindparam(f"_v_{c}") for c in columns})
    params = [{"_pk": row[0], **{f"_v_{c}": v for c, v in zip(columns, row[1:], strict=True)}}
              for row in rows]
    session.connection().execute(statement, params)


def date_text(column: ColumnElement, dialect: str) -> ColumnElement:
    """The date as ISO text, whatever the server's DateStyle."""
    if dialect == "postgresql":
        return func.to_char(column, "YYYY-MM-DD")
    return column.cast(String(10))


def fetch_tuples(session: Session, statement: Select) -> list[tuple]:
    """Raw DBAPI rows of a select, skipping SQLAlchemy's result processing."""
    return session.connection().execute(statement).cursor.fetchall()
