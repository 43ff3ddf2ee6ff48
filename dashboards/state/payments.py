"""The payments page's state: a study's site payments as of a date, the reconciliation
exceptions filtered by status, the payment run preview and its approval (finance only,
audited)."""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd
import param

from contracts.payments_picture import EXCEPTION_STATUSES, PaymentsPicture
from contracts.site_payments import PaymentRunView, approve_payment_run, study_payments
from dashboards import queries
from dashboards.access import Action, require
from dashboards.state.base import Outcome, outcome
from dashboards.state.study import NO_STUDY, StudyDateState

ALL = "all"


class PaymentsState(StudyDateState):
    """``as_of``: earned up to it, and the payment run's through date."""

    status = param.Selector(default=ALL, objects=[ALL, *EXCEPTION_STATUSES],
                            doc="show only the exceptions of this status")
    picture = param.ClassSelector(class_=PaymentsPicture, default=None, allow_None=True)
    exceptions = param.DataFrame(default=None, doc="the picture's exceptions, filtered")
    approved = param.ClassSelector(class_=PaymentRunView, default=None, allow_None=True,
                                   doc="the run approved from this page, once it is")

    def __init__(self, reader, user, role, **params) -> None:  # noqa: ANN001
        super().__init__(reader, user, role)
        self._choose_study(params.get("study"))
        if params.get("status") in self.param.status.objects:
            with param.parameterized.discard_events(self):
                self.status = params["status"]
        self._choose_date(params.get("as_of"))
        self._compute()

    @param.depends("as_of", watch=True)
    def _compute(self) -> None:
        if self.study is None:
            picture, error = None, NO_STUDY
        else:
            study, as_of = self.study, self.as_of
            picture = self.attempt(lambda: self.reader.read(*queries.payments(study, as_of)))
            error = self.error
            self._prefetch_near(study, as_of)
        # one batch of events: the view redraws once
        self.param.update(picture=picture, error=error, approved=None,
                          exceptions=self._filtered(picture))

    def _prefetch_near(self, study: str, as_of: str | None) -> None:
        self.reader.prefetch([queries.payments(study, other) for other in
                              queries.near(self.param.as_of.objects, as_of)])

    def _filtered(self, picture: PaymentsPicture | None) -> pd.DataFrame | None:
        if picture is None:
            return None
        rows = picture.exceptions
        return rows if self.status == ALL else \
            rows[rows["status"] == self.status].reset_index(drop=True)

    @param.depends("status", watch=True)
    def _filter(self) -> None:
        self.exceptions = self._filtered(self.picture)

    def store_approval(self) -> Outcome[Approval]:
        """Store and freeze the payment run through ``as_of`` as the logged-in user
        (finance only), then read the figures after it. Safe off the UI thread: no
        parameter changes until :meth:`show_approval`."""
        require(self.role, Action.APPROVE_PAYMENT_RUN)
        if self.study is None or self.as_of is None:
            return Outcome(error="Choose a study and a date first.")
        study, as_of = self.study, self.as_of
        through = queries.as_date(as_of)

        def store() -> Approval:
            with self.reader.write(self.user) as session:
                run = approve_payment_run(session, study_payments(session, study, through),
                                          self.user)
            return Approval(run, outcome(
                lambda: self.reader.read(*queries.payments(study, as_of))))

        return outcome(store)

    def show_approval(self, done: Outcome[Approval]) -> PaymentRunView | None:
        """Show a stored run and the figures after it (UI thread); None when none was."""
        if done.value is None:
            self.error = done.error
            return None
        run, after = done.value.run, done.value.after
        self.param.update(picture=after.value, error=after.error, approved=run,
                          exceptions=self._filtered(after.value))
        if self.study is not None:
            self._prefetch_near(self.study, self.as_of)
        return run

    def approve(self) -> PaymentRunView | None:
        """Approve and show the run (both steps on the calling thread)."""
        return self.show_approval(self.store_approval())


@dataclass(frozen=True)
class Approval:
    """A stored payment run and the page's figures read after it."""

    run: PaymentRunView
    after: Outcome[PaymentsPicture]
