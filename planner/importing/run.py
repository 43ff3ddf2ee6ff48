"""One import: files of one kind, validated, written and audited as a batch.

The caller owns the transaction: it commits on success, and rolls back on
:class:`ImportRejected` or for a dry run, so the store is never half-imported.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy.orm import Session

from planner.importing.invoices import import_invoices
from planner.importing.issues import ImportIssue, raise_if_any
from planner.importing.planning import import_drivers, import_leave
from planner.importing.readers import RawTable, read_table
from planner.importing.sdtm import import_sdtm, read_sdtm_files
from planner.importing.site_budgets import import_fees, import_terms
from planner.importing.sync import AuditContext, Writer
from planner.importing.tabular import import_milestones, import_sites, import_staff, import_studies
from planner.importing.work_orders import import_timesheets, import_work_orders
from planner.tables import ImportBatch

log = logging.getLogger(__name__)

TableImporter = Callable[[Writer, RawTable], list[ImportIssue]]
TABLE_KINDS: dict[str, TableImporter] = {
    "studies": import_studies,
    "sites": import_sites,
    "staff": import_staff,
    "milestones": import_milestones,
    "leave": import_leave,
    "drivers": import_drivers,
    "fees": import_fees,
    "terms": import_terms,
    "invoices": import_invoices,
    "workorders": import_work_orders,
    "timesheets": import_timesheets,
}
KINDS = (*TABLE_KINDS, "sdtm")


@dataclass
class ImportResult:
    kind: str
    sources: list[str]
    counts: dict[str, dict[str, int]]
    notices: list[str] = field(default_factory=list)
    batch_pk: int | None = None

    @property
    def changed(self) -> int:
        return sum(c["insert"] + c["update"] + c.get("delete", 0) for c in self.counts.values())


def _digest(paths: list[Path]) -> str | None:
    sha = hashlib.sha256()
    for path in paths:
        if not path.is_file():
            return None
        sha.update(path.read_bytes())
    return sha.hexdigest()


def _writer(session: Session, kind: str, sources: list[str], sha256: str | None,
            actor: str, effective: dt.date | None = None) -> tuple[Writer, ImportBatch]:
    now = dt.datetime.now(dt.UTC)
    batch = ImportBatch(kind=kind, source="; ".join(sources), sha256=sha256, actor=actor,
                        at=now, inserted=0, updated=0, deleted=0, unchanged=0)
    session.add(batch)
    session.flush()
    return Writer(session, AuditContext(actor, now, batch.id, effective), {}), batch


def _close(session: Session, batch: ImportBatch, writer: Writer) -> int | None:
    """Record the batch's counts; an import that changed nothing leaves no trace."""
    batch.inserted = sum(c["insert"] for c in writer.counts.values())
    batch.updated = sum(c["update"] for c in writer.counts.values())
    batch.deleted = sum(c.get("delete", 0) for c in writer.counts.values())
    batch.unchanged = sum(c["unchanged"] for c in writer.counts.values())
    if batch.inserted + batch.updated + batch.deleted == 0:
        session.delete(batch)
        return None
    return batch.id


def import_tables(session: Session, kind: str, tables: list[RawTable], actor: str,
                  sha256: str | None = None, effective: dt.date | None = None) -> ImportResult:
    """Import already-read tables of a tabular kind (files, or frames built in memory).

    ``effective`` is the business date changes such as a CRA reassignment take
    effect (default: today).
    """
    if kind not in TABLE_KINDS:
        raise ValueError(f"unknown import kind {kind!r}; expected one of {', '.join(KINDS)}")
    sources = [t.source for t in tables]
    writer, batch = _writer(session, kind, sources, sha256, actor, effective)
    issues: list[ImportIssue] = []
    for table in tables:
        issues += TABLE_KINDS[kind](writer, table)
        if issues:
            break
    raise_if_any(issues)
    batch_pk = _close(session, batch, writer)
    return ImportResult(kind, sources, writer.counts, batch_pk=batch_pk)


def import_sdtm_tables(session: Session, tables: list[tuple[RawTable, str]], actor: str,
                       sha256: str | None = None) -> ImportResult:
    """Import one study's SDTM domains (each table paired with its file-name stem)."""
    sources = [t.source for t, _ in tables]
    writer, batch = _writer(session, "sdtm", sources, sha256, actor)
    issues, notices = import_sdtm(writer, tables)
    raise_if_any(issues)
    batch_pk = _close(session, batch, writer)
    return ImportResult("sdtm", sources, writer.counts, notices, batch_pk)


def import_files(session: Session, kind: str, paths: list[Path], actor: str,
                 effective: dt.date | None = None) -> ImportResult:
    """Read and import files of one kind (``sdtm`` takes a study's domain files at once)."""
    if kind == "sdtm":
        tables = read_sdtm_files(paths)
        log.info("read %s", ", ".join(f"{t.source}: {len(t.frame):,} rows" for t, _ in tables))
        return import_sdtm_tables(session, tables, actor, _digest(paths))
    tables = [read_table(path, kind) for path in paths]
    log.info("read %s", ", ".join(f"{t.source}: {len(t.frame):,} rows" for t in tables))
    return import_tables(session, kind, tables, actor, _digest(paths), effective)
