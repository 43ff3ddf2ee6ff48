"""The budget page's state: a study's sponsor budget as of a date (budget_picture)."""

from __future__ import annotations

import param

from contracts.budget_picture import BudgetPicture
from dashboards import queries
from dashboards.state.base import PageState
from dashboards.state.choices import study_as_of_choices, study_ids


class BudgetState(PageState):
    study = param.Selector(default=None, objects=[], allow_None=True)
    as_of = param.Selector(default=None, objects=[], allow_None=True,
                           doc="ISO date: a month end, or the study's data cut (the last)")
    picture = param.ClassSelector(class_=BudgetPicture, default=None, allow_None=True)

    def __init__(self, reader, user, role, **params) -> None:  # noqa: ANN001
        super().__init__(reader, user, role)
        studies = study_ids(reader)
        self.param.study.objects = studies
        study = params.get("study")
        with param.parameterized.discard_events(self):
            self.study = study if study in studies else (studies[0] if studies else None)
        self._dates(params.get("as_of"))
        self._compute()

    def _dates(self, wanted: object = None) -> None:
        choices = study_as_of_choices(self.reader, self.study) if self.study else []
        self.param.as_of.objects = choices
        with param.parameterized.discard_events(self):
            self.as_of = wanted if wanted in choices else (choices[-1] if choices else None)

    @param.depends("study", watch=True)
    def _study_changed(self) -> None:
        self._dates()
        self._compute()

    @param.depends("as_of", watch=True)
    def _compute(self) -> None:
        if self.study is None:
            self.picture, self.error = None, "No study in the store yet: import studies first."
            return
        study, as_of = self.study, self.as_of
        with param.parameterized.batch_call_watchers(self):  # the view redraws once
            self.picture = self.attempt(lambda: self.reader.read(*queries.budget(study, as_of)))
        self.reader.prefetch([queries.budget(study, other) for other in
                              queries.near(self.param.as_of.objects, as_of)])
