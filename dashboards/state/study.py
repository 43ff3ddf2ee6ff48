"""States of the pages about one study: the study chosen (from the link, else the first),
and for pages looked at as of a date, the date (from the link, else the data cut)."""

from __future__ import annotations

import param

from dashboards.state.base import PageState
from dashboards.state.choices import study_as_of_choices, study_ids

NO_STUDY = "No study in the store yet: import studies first."


class StudyState(PageState):
    study = param.Selector(default=None, objects=[], allow_None=True)

    def _choose_study(self, wanted: object) -> None:
        """The study of the link when the store has it, else the first (no event)."""
        studies = study_ids(self.reader)
        self.param.study.objects = studies
        with param.parameterized.discard_events(self):
            self.study = wanted if wanted in studies else (studies[0] if studies else None)


class StudyDateState(StudyState):
    as_of = param.Selector(default=None, objects=[], allow_None=True,
                           doc="ISO date: a month end, or the study's data cut (the last)")

    def _choose_date(self, wanted: object = None) -> None:
        """The date of the link when the study offers it, else its data cut (no event)."""
        choices = study_as_of_choices(self.reader, self.study) if self.study else []
        self.param.as_of.objects = choices
        with param.parameterized.discard_events(self):
            self.as_of = wanted if wanted in choices else (choices[-1] if choices else None)

    @param.depends("study", watch=True)
    def _study_changed(self) -> None:
        self._choose_date()
        self._compute()

    def _compute(self) -> None:
        raise NotImplementedError  # each page computes its own picture
