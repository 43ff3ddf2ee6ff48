"""The budget page's state: a study's sponsor budget as of a date (budget_picture)."""

from __future__ import annotations

import param

from contracts.budget_picture import BudgetPicture
from dashboards import queries
from dashboards.state.study import NO_STUDY, StudyDateState


class BudgetState(StudyDateState):
    picture = param.ClassSelector(class_=BudgetPicture, default=None, allow_None=True)

    def __init__(self, reader, user, role, **params) -> None:  # noqa: ANN001
        super().__init__(reader, user, role)
        self._choose_study(params.get("study"))
        self._choose_date(params.get("as_of"))
        self._compute()

    @param.depends("as_of", watch=True)
    def _compute(self) -> None:
        if self.study is None:
            self.picture, self.error = None, NO_STUDY
            return
        study, as_of = self.study, self.as_of
        with param.parameterized.batch_call_watchers(self):  # the view redraws once
            self.picture = self.attempt(lambda: self.reader.read(*queries.budget(study, as_of)))
        self.reader.prefetch([queries.budget(study, other) for other in
                              queries.near(self.param.as_of.objects, as_of)])
