"""Logging in: Panel's login page, checked against the store's users (hashed passwords).

Panel's basic auth compares plain-text passwords from a file; this provider keeps
its login page and secure cookies but validates against ``app_user``
(:mod:`planner.users`). The role is read from the store on every page built, so
a changed or removed user's access changes at once.
"""

from __future__ import annotations

from pathlib import Path

from panel.auth import BasicAuthProvider, BasicLoginHandler
from sqlalchemy import Engine

from planner.domain import AppRole
from planner.store import transaction
from planner.users import authenticated_role, role_of

LOGIN_ACTOR = "dashboards login"
TEMPLATES = Path(__file__).with_name("templates")  # Panel's, without the CDN logo


def check_password(engine: Engine, name: str, password: str) -> AppRole | None:
    with transaction(engine, LOGIN_ACTOR, commit=False) as session:
        return authenticated_role(session, name, password)


def user_role(engine: Engine, name: str | None) -> AppRole | None:
    if not name:
        return None
    with transaction(engine, LOGIN_ACTOR, commit=False) as session:
        return role_of(session, name)


class StoreAuthProvider(BasicAuthProvider):
    """Panel's login and logout pages; passwords checked against the store's users."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine  # before the base class validates the login handler
        super().__init__(login_endpoint="/login", logout_endpoint="/logout",
                         login_template=str(TEMPLATES / "login.html"),
                         logout_template=str(TEMPLATES / "logout.html"))

    @property
    def login_handler(self) -> type[BasicLoginHandler]:
        engine, template = self.engine, self._login_template

        class StoreLoginHandler(BasicLoginHandler):
            _login_endpoint = "/login"
            _login_template = template

            def _validate(self, username: str, password: str) -> bool:
                return check_password(engine, username, password) is not None

        return StoreLoginHandler
