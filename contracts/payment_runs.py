"""Approved payment runs in the store: read what was paid, approve a new run.

Repository functions take a session and never commit: the caller owns the
transaction. A run is stored only when approved, and is frozen from then on
(:mod:`planner.payment_freeze`: the ORM refuses to update or delete its rows);
this repository offers no update or delete. Corrections are a new run.
The run goes through the ORM (the audit hook records it); its lines are
written set-wise with one audit row each, naming the approving actor, as the
importers write theirs (:mod:`planner.importing.writes`): through the ORM, a run
of thousands of lines would be two objects per line.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

import pandas as pd
from sqlalchemy import select
from sqlalchemy.orm import Session

from contracts.minor import from_minor, to_minor
from contracts.payment_keys import ITEM, RELEASE, stale_lines
from contracts.schemas import PAYMENT_LINES
from planner import payment_freeze  # noqa: F401  (registers the freeze on every session)
from planner.audit import ACTOR_KEY
from planner.bulk import Constant, insert_columns
from planner.domain import AuditAction
from planner.frames import DATE
from planner.fx import FX_DECIMALS
from planner.importing.writes import db_values, json_objects, write_audit
from planner.payment_tables import ItemType, PaymentLine, PaymentRun
from planner.tables import Site, Study

COLUMNS = [PaymentLine.kind, PaymentLine.subject_id, PaymentLine.item_type,
           PaymentLine.item_code, PaymentLine.item_ref, PaymentLine.occurrence,
           PaymentLine.service_date,
           PaymentLine.gross, PaymentLine.holdback, PaymentLine.already_paid,
           PaymentLine.amount, PaymentLine.currency, PaymentLine.fx_rate,
           PaymentLine.reporting_amount, PaymentLine.reporting_currency]
MONEY = {"gross": "gross_minor", "holdback": "holdback_minor",
         "already_paid": "already_paid_minor", "amount": "amount_minor"}


class PaymentRunError(ValueError):
    """A run that cannot be approved: nothing to pay, stale lines, unknown study or site."""


def _frame(rows: list[tuple]) -> pd.DataFrame:
    names = ["study_id", "site_id", *(c.key for c in COLUMNS)]
    raw = pd.DataFrame.from_records(rows, columns=names)
    out = raw[["study_id", "site_id", "kind", "subject_id", "item_code", "item_ref",
               "currency", "fx_rate", "reporting_currency"]].copy()
    out["item_type"] = [None if pd.isna(v) else ItemType(v).value for v in raw["item_type"]]
    out["occurrence"] = pd.array(list(raw["occurrence"]), dtype="Int64")
    out["service_date"] = pd.to_datetime(raw["service_date"])
    for column, minor in MONEY.items():
        out[minor] = pd.array([to_minor(v, c) for v, c in
                               zip(raw[column], raw["currency"], strict=True)], dtype="int64")
    out["reporting_minor"] = pd.array(
        [to_minor(v, c) for v, c in zip(raw["reporting_amount"], raw["reporting_currency"],
                                        strict=True)], dtype="int64")
    return PAYMENT_LINES.conform(out)


def approved_lines(session: Session, study_id: str, *, through: bool = False
                   ) -> pd.DataFrame:
    """Every line of the study's approved runs (``PAYMENT_LINES``, oldest first): the
    ``paid`` input of :func:`contracts.payments.payment_run_lines`. ``through``: with a
    last column ``through`` (date), the through date of the line's run."""
    statement = (select(Study.study_id, Site.site_id, *COLUMNS, PaymentRun.through)
                 .join(PaymentRun, PaymentLine.run_pk == PaymentRun.id)
                 .join(Study, PaymentRun.study_pk == Study.id)
                 .join(Site, PaymentLine.site_pk == Site.id)
                 .where(Study.study_id == study_id)
                 .order_by(PaymentRun.id, PaymentLine.id))
    rows = [tuple(r) for r in session.execute(statement)]
    lines = _frame([r[:-1] for r in rows])
    if through:
        lines["through"] = pd.to_datetime(pd.Series([r[-1] for r in rows], dtype=object)
                                          ).astype(DATE)
    return lines


def run_lines(session: Session, run_id: int) -> pd.DataFrame:
    """The lines of one stored run (``PAYMENT_LINES``, in the order they were approved)."""
    statement = (select(Study.study_id, Site.site_id, *COLUMNS)
                 .join(PaymentRun, PaymentLine.run_pk == PaymentRun.id)
                 .join(Study, PaymentRun.study_pk == Study.id)
                 .join(Site, PaymentLine.site_pk == Site.id)
                 .where(PaymentRun.id == run_id).order_by(PaymentLine.id))
    return _frame([tuple(r) for r in session.execute(statement)])


def run_totals(lines: pd.DataFrame) -> dict[str, Any]:
    """Per currency: gross, holdback withheld, released, already settled, paid and its
    reporting amount (decimal strings), with the reporting total."""
    by_currency: dict[str, dict[str, str]] = {}
    for currency, group in lines.groupby(lines["currency"].astype(str), sort=True):
        is_item = (group["kind"] == ITEM).to_numpy()

        def total(values: pd.Series, code: str = str(currency)) -> str:
            return str(from_minor(int(values.to_numpy(dtype="int64").sum()), code))

        by_currency[str(currency)] = {
            "lines": str(len(group)), "gross": total(group["gross_minor"][is_item]),
            "holdback": total(group["holdback_minor"][is_item]),
            "released": total(group["amount_minor"][~is_item]),
            "already_paid": total(group["already_paid_minor"]),
            "paid": total(group["amount_minor"]),
            "reporting": str(from_minor(int(group["reporting_minor"].sum()),
                                        str(group["reporting_currency"].iloc[0]))),
        }
    reporting = str(lines["reporting_currency"].iloc[0])
    return {"lines": len(lines), "by_currency": by_currency,
            "reporting": {"currency": reporting,
                          "amount": str(from_minor(int(lines["reporting_minor"].sum()),
                                                   reporting))}}


def _check(session: Session, study_id: str, lines: pd.DataFrame) -> tuple[Study, dict]:
    """The study (locked against a concurrent approval) and its sites' keys; refuses
    an empty, foreign or stale run."""
    if lines.empty:
        raise PaymentRunError(f"nothing to pay for {study_id}: every earned item is paid "
                              "(or waits for its site's quarter end); no run was stored")
    study = session.scalars(select(Study).where(Study.study_id == study_id)
                            .with_for_update()).one_or_none()
    if study is None:
        raise PaymentRunError(f"study {study_id!r} is not in the store")
    others = sorted(set(lines["study_id"].astype(str)) - {study_id})
    if others:
        raise PaymentRunError(f"the run of {study_id} holds lines of {', '.join(others)}")
    if lines["reporting_currency"].astype(str).nunique() != 1:
        raise PaymentRunError("a run has one reporting currency")
    fine = [r for r in lines["fx_rate"] if Decimal(r).as_tuple().exponent < -FX_DECIMALS]
    if fine:
        raise PaymentRunError(f"FX rate {fine[0]} has more than {FX_DECIMALS} decimals: the "
                              "store would round it, and the stored rate would not redo "
                              "the conversion")
    kinds = set(lines["kind"].astype(str)) - {ITEM, RELEASE}
    if kinds:
        raise PaymentRunError(f"unknown line kinds {sorted(kinds)}")
    sites = {site_id: pk for site_id, pk in session.execute(
        select(Site.site_id, Site.id).where(Site.study_pk == study.id))}
    unknown = sorted(set(lines["site_id"].astype(str)) - set(sites))
    if unknown:
        raise PaymentRunError(f"sites {', '.join(unknown)} are not sites of {study_id}")
    stale = stale_lines(lines, approved_lines(session, study_id))
    if len(stale):
        raise PaymentRunError(f"{len(stale)} lines no longer match the approved runs of "
                              f"{study_id} (another run was approved since they were "
                              "computed): compute the run again")
    return study, sites


def _value(value: object) -> Any:
    return None if value is None or pd.isna(value) else value


def approve_run(session: Session, study_id: str, lines: pd.DataFrame, through: dt.date,
                actor: str, inputs_sha256: str) -> int:
    """Store ``lines`` (from ``payment_lines``) as an approved, frozen run; its id.

    Refuses an empty run (nothing to pay) and lines computed against older approved
    runs. Amounts are stored as ``Decimal``; the audit records the run and every line
    as inserted by ``actor``. The caller commits.
    """
    study, sites = _check(session, study_id, lines)
    run = PaymentRun(study_pk=study.id, at=dt.datetime.now(dt.UTC), actor=actor,
                     through=through, reporting_currency=str(lines["reporting_currency"].iloc[0]),
                     inputs_sha256=inputs_sha256, totals=run_totals(lines))
    before = session.info.get(ACTOR_KEY)
    session.info[ACTOR_KEY] = actor  # the audit names who approved, whoever opened the session
    try:
        session.add(run)
        session.flush()
    finally:
        if before is None:
            session.info.pop(ACTOR_KEY, None)
        else:
            session.info[ACTOR_KEY] = before
    _insert_lines(session, run, sites, lines)
    return run.id


def _insert_lines(session: Session, run: PaymentRun, sites: dict[str, int],
                  lines: pd.DataFrame) -> None:
    """The run's lines in one set-wise insert, and one audit row per line (action
    insert, the run's actor): key = the run and the line's identity (its item, or the
    site and currency of a release), after = every stored value, the site by its id."""
    currency = lines["currency"].astype(str).tolist()
    reporting = lines["reporting_currency"].astype(str).tolist()
    text = {c: db_values(lines[c], None).tolist() for c in
            ("subject_id", "item_type", "item_code", "item_ref")}  # NA → None
    values: dict[str, list[Any]] = {
        "kind": lines["kind"].astype(str).tolist(),
        **text,
        "item_type": [None if v is None else ItemType(v).value for v in text["item_type"]],
        "occurrence": [None if _value(v) is None else int(v) for v in lines["occurrence"]],
        "service_date": db_values(lines["service_date"],
                                  PaymentLine.__table__.c.service_date.type).tolist(),
        **{column: [from_minor(int(m), c) for m, c in zip(lines[minor], currency, strict=True)]
           for column, minor in MONEY.items()},
        "currency": currency,
        "fx_rate": [Decimal(r) for r in lines["fx_rate"].astype(str)],
        "reporting_amount": [from_minor(int(m), c) for m, c in
                             zip(lines["reporting_minor"], reporting, strict=True)],
        "reporting_currency": reporting,
    }
    site_ids = lines["site_id"].astype(str).tolist()
    insert_columns(session, PaymentLine.__table__,
                   {"run_pk": Constant(run.id), "site_pk": [sites[s] for s in site_ids],
                    **values})
    count = len(lines)
    # amounts as their own text: JSON encoding shares equal values, and Decimal("100")
    # equals Decimal("100.00") (a JPY and a EUR amount)
    shown = {c: [None if v is None else str(v) for v in column]
             if c in (*MONEY, "fx_rate", "reporting_amount") else column
             for c, column in values.items()}
    # a release is one per site and currency: the currency is part of a line's identity
    identity = ("kind", "subject_id", "item_type", "item_code", "item_ref", "currency")
    keys = json_objects({"run_pk": [run.id] * count, "site_id": site_ids,
                         **{c: shown[c] for c in identity}}, count)
    after = json_objects({"run_pk": [run.id] * count, "site_id": site_ids, **shown}, count)
    write_audit(session, {
        "at": Constant(run.at), "actor": Constant(run.actor),
        "batch_pk": Constant(session.info.get("batch_pk")),
        "action": Constant(AuditAction.INSERT.value), "entity": Constant("payment_line"),
        "entity_key": keys, "before": Constant(None), "after": after,
        "source": Constant(session.info.get("source"))})


def stored_runs(session: Session, study_id: str) -> list[PaymentRun]:
    """The study's approved runs, newest first (read only: they are frozen)."""
    return list(session.scalars(
        select(PaymentRun).join(Study, PaymentRun.study_pk == Study.id)
        .where(Study.study_id == study_id).order_by(PaymentRun.id.desc())))
