"""Web app users: adding one, checking a password, reading a role.

Passwords are kept as PBKDF2-HMAC-SHA256 hashes with a per-user random salt
(``pbkdf2_sha256$<iterations>$<salt hex>$<hash hex>``), compared in constant
time. Repository functions take a session and never commit.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import re
import secrets

from sqlalchemy import select
from sqlalchemy.orm import Session

from planner.domain import AppRole
from planner.user_tables import USER_NAME_LENGTH, AppUser

SCHEME = "pbkdf2_sha256"
ITERATIONS = 600_000  # OWASP 2023 for PBKDF2-SHA256; about 0.14 s per login here
MIN_PASSWORD = 8
NAME_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9._@-]*")


class UserInputError(ValueError):
    """A user name, role or password the credentials store refuses."""


def hash_password(password: str, iterations: int = ITERATIONS) -> str:
    salt = secrets.token_bytes(16)
    digest = hashlib.pbkdf2_hmac("sha256", password.encode(), salt, iterations)
    return f"{SCHEME}${iterations}${salt.hex()}${digest.hex()}"


def password_matches(password: str, stored: str) -> bool:
    """Whether ``password`` hashes to ``stored`` (False for a malformed hash)."""
    try:
        scheme, iterations, salt, digest = stored.split("$")
        rounds = int(iterations)
        salt_bytes, expected = bytes.fromhex(salt), bytes.fromhex(digest)
    except ValueError:
        return False
    if scheme != SCHEME:
        return False
    actual = hashlib.pbkdf2_hmac("sha256", password.encode(), salt_bytes, rounds)
    return hmac.compare_digest(actual, expected)


def _checked(name: str, role: str, password: str) -> AppRole:
    if len(name) > USER_NAME_LENGTH or not NAME_PATTERN.fullmatch(name):
        raise UserInputError(
            f"user name {name!r}: expected letters, digits and . _ @ - (starting with a "
            f"letter or digit), at most {USER_NAME_LENGTH} characters")
    try:
        chosen = AppRole(role)
    except ValueError:
        raise UserInputError(f"role {role!r}: expected one of "
                             f"{', '.join(r.value for r in AppRole)}") from None
    if len(password) < MIN_PASSWORD:
        raise UserInputError(f"the password is too short: expected at least {MIN_PASSWORD} "
                             "characters")
    return chosen


def add_user(session: Session, name: str, role: str, password: str) -> tuple[AppUser, bool]:
    """Add ``name`` with ``role`` and ``password``, or give an existing user the new role
    and password. Returns the user and whether it was created."""
    chosen = _checked(name, role, password)
    now = dt.datetime.now(dt.UTC)
    user = session.scalars(select(AppUser).where(AppUser.name == name)).one_or_none()
    created = user is None
    if user is None:
        user = AppUser(name=name, created_at=now)
        session.add(user)
    user.role, user.password_hash, user.updated_at = chosen, hash_password(password), now
    session.flush()
    return user, created


def authenticated_role(session: Session, name: str, password: str) -> AppRole | None:
    """The user's role when the password is right, else None (unknown user included)."""
    user = session.scalars(select(AppUser).where(AppUser.name == name)).one_or_none()
    if user is None:
        hash_password(password)  # as slow as a known user's check: no user-name oracle
        return None
    return user.role if password_matches(password, user.password_hash) else None


def role_of(session: Session, name: str) -> AppRole | None:
    """The stored role of ``name`` (None for an unknown or removed user)."""
    return session.scalars(select(AppUser.role).where(AppUser.name == name)).one_or_none()


def user_list(session: Session) -> list[tuple[str, AppRole]]:
    return [(u.name, u.role) for u in session.scalars(select(AppUser).order_by(AppUser.name))]
