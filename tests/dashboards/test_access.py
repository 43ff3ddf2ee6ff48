"""Users, roles and the pages' access rules; the store reader's cache."""

from __future__ import annotations

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from dashboards import queries
from dashboards.access import (
    ACTION_ROLES,
    Action,
    NotAllowed,
    Page,
    may,
    may_open,
    pages_for,
    require,
)
from dashboards.app import build_page
from dashboards.auth import check_password, user_role
from dashboards.queries import as_of_choices
from dashboards.source import StoreReader
from planner.audit import REDACTED
from planner.domain import AppRole
from planner.store import transaction
from planner.tables import AuditEntry
from planner.users import UserInputError, add_user, hash_password, password_matches
from tests.dashboards.conftest import USERS


def test_roles_see_their_pages_only() -> None:
    assert pages_for(AppRole.PM) == list(Page)
    assert pages_for(AppRole.FINANCE) == [Page.PORTFOLIO, Page.BUDGET, Page.RECRUITMENT,
                                          Page.PAYMENTS]
    assert pages_for(AppRole.VIEWER) == [Page.PORTFOLIO, Page.BUDGET, Page.RECRUITMENT]
    assert pages_for(None) == [] and not may_open(None, Page.PORTFOLIO)
    assert [a for a in Action if may(AppRole.FINANCE, a)] == [
        Action.RECRUITMENT_WHAT_IF, Action.APPROVE_PAYMENT_RUN]
    assert ACTION_ROLES[Action.APPLY_REBALANCE] == {AppRole.PM}
    with pytest.raises(NotAllowed, match=r"approve a payment run is not allowed for your "
                                         r"role \(viewer\)"):
        require(AppRole.VIEWER, Action.APPROVE_PAYMENT_RUN)


def test_password_hashes() -> None:
    stored = hash_password("correct horse")
    assert stored.startswith("pbkdf2_sha256$600000$") and "correct horse" not in stored
    assert password_matches("correct horse", stored)
    assert not password_matches("correct hors", stored)
    assert stored != hash_password("correct horse")  # salted
    assert not password_matches("x", "not-a-hash") and not password_matches("x", "")


def test_users_in_the_store(store) -> None:  # noqa: ANN001 - SQLite and PostgreSQL
    with transaction(store, "admin") as session:
        user, created = add_user(session, "ana", "pm", "first-password")
        assert created
    assert check_password(store, "ana", "first-password") == AppRole.PM
    assert check_password(store, "ana", "wrong-password") is None
    assert check_password(store, "nobody", "first-password") is None
    with transaction(store, "admin") as session:
        _, created = add_user(session, "ana", "viewer", "second-password")
        assert not created
    assert user_role(store, "ana") == AppRole.VIEWER
    assert check_password(store, "ana", "first-password") is None
    for name, role, password, why in (("ana", "admin", "long-enough", "role 'admin'"),
                                      ("ana", "pm", "short", "too short"),
                                      ("a b", "pm", "long-enough", "user name 'a b'")):
        with pytest.raises(UserInputError, match=why), transaction(store, "admin") as session:
            add_user(session, name, role, password)
    with Session(store) as session:
        entries = session.scalars(select(AuditEntry).where(AuditEntry.entity == "app_user")
                                  .order_by(AuditEntry.id)).all()
    assert [e.action for e in entries] == ["insert", "update"]
    assert all(e.actor == "admin" for e in entries)
    assert entries[0].after["password_hash"] == REDACTED
    assert entries[1].before["password_hash"] == REDACTED == entries[1].after["password_hash"]
    assert entries[1].before["role"] == "pm" and entries[1].after["role"] == "viewer"


def test_the_reader_caches_until_the_store_changes(shared_engine) -> None:  # noqa: ANN001
    reader = StoreReader(shared_engine)
    calls = []

    def compute(session: Session) -> int:
        calls.append(1)
        return len(calls)

    assert reader.read(("k",), compute) == 1
    assert reader.read(("k",), compute) == 1  # same store: from the cache
    assert reader.read(("other",), compute) == 2
    with reader.write("tests") as session:  # any audited change moves the version
        add_user(session, "cache-test", "viewer", "cache-password")
    assert reader.read(("k",), compute) == 3
    assert reader.computed == 3
    # a prefetched key is computed once, in the background, and then read from the cache
    reader.prefetch([(("later",), compute)])[0].result(timeout=30)
    assert reader.cached(("later",)) and reader.read(("later",), compute) == 4
    assert reader.computed_apart == 0  # a local function does not pickle: computed here
    # a page's computation pickles: the prefetch process computes it, with the same result
    key, dates = queries.study_dates("HLX-CV-302")
    reader.prefetch([(key, dates)])[0].result(timeout=120)
    assert reader.computed_apart == 1 and reader.cached(key)
    with Session(shared_engine) as session:
        assert reader.read(key, dates) == dates(session) == as_of_choices(session, "HLX-CV-302")
    reader.close()


def test_a_page_the_role_may_not_open_is_refused_on_the_server(shared_reader) -> None:  # noqa: ANN001
    for page, name in ((Page.WORKLOAD, "vic"), (Page.PAYMENTS, "vic"),
                       (Page.WORKLOAD, "fred"), (Page.PORTFOLIO, "stranger")):
        template = build_page(shared_reader, page, user=name)
        text = str(template.main[0].object)
        assert "not allowed for your role" in text, (page, name, text)
    allowed = build_page(shared_reader, Page.PAYMENTS, user="fred")
    assert "not allowed" not in str(getattr(allowed.main[0], "object", ""))
    assert USERS["fred"][0] == "finance"
