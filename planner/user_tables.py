"""Who may use the web app: a user name, a role and a salted password hash.

The hash never leaves this table: the audit hook records that a user was added
or changed, with ``password_hash`` redacted (:data:`REDACTED_COLUMNS`).
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import DateTime, String
from sqlalchemy.orm import Mapped, mapped_column

from planner.domain import AppRole
from planner.tables import Base, _enum

USER_NAME_LENGTH = 100  # the audit log's actor column: a user name is an actor


class AppUser(Base):
    """One login of the web app (``trialplan users add``)."""

    __tablename__ = "app_user"
    __audit_redacted__ = frozenset({"password_hash"})
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(USER_NAME_LENGTH), unique=True)
    role: Mapped[AppRole] = mapped_column(_enum(AppRole, "app_role"))
    password_hash: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))
    updated_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))
