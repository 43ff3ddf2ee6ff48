"""The recruitment page's state: a study's curve and forecast, and a what-if (extra sites
in a country from a month) that redraws it."""

from __future__ import annotations

import pandas as pd
import param

from dashboards import queries
from dashboards.access import Action, require
from dashboards.state.base import Outcome, outcome
from dashboards.state.study import NO_STUDY, StudyState
from planner.recruitment.forecast import ExtraSites
from planner.recruitment.whatif import MAX_EXTRA_SITES
from planner.recruitment_picture import RecruitmentPicture
from planner.study_forecast import months_until

WHAT_IF_MONTHS = 24  # the what-if offers the next two years' months


class RecruitmentState(StudyState):
    picture = param.ClassSelector(class_=RecruitmentPicture, default=None, allow_None=True,
                                  doc="the plan of record's forecast")
    what_if_country = param.Selector(default=None, objects=[], allow_None=True)
    what_if_sites = param.Integer(default=5, bounds=(1, MAX_EXTRA_SITES))
    what_if_month = param.Selector(default=None, objects=[], allow_None=True,
                                   doc="YYYY-MM the added sites open")
    what_if = param.ClassSelector(class_=RecruitmentPicture, default=None, allow_None=True,
                                  doc="the forecast with the added sites")

    def __init__(self, reader, user, role, **params) -> None:  # noqa: ANN001
        super().__init__(reader, user, role)
        self._choose_study(params.get("study"))
        self._compute()

    @param.depends("study", watch=True)
    def _compute(self) -> None:
        self.what_if = None
        if self.study is None:
            self.picture, self.error = None, NO_STUDY
            return
        study = self.study
        self.picture = self.attempt(lambda: self.reader.read(*queries.recruitment(study)))
        picture = self.picture
        if picture is None:
            return
        countries = sorted(set(picture.sites["country"].dropna().astype(str)))
        first = pd.Period(picture.as_of, "M") + 1
        months = [str(first + k) for k in range(WHAT_IF_MONTHS)]
        self.param.what_if_country.objects = countries
        self.param.what_if_month.objects = months
        with param.parameterized.discard_events(self):
            self.what_if_country = countries[0] if countries else None
            self.what_if_month = str(first + 2) if months else None

    def forecast_what_if(self) -> Outcome[RecruitmentPicture]:
        """The forecast with ``what_if_sites`` more sites in ``what_if_country`` opening in
        ``what_if_month`` (not stored). Safe off the UI thread: no parameter changes until
        :meth:`show_what_if`."""
        require(self.role, Action.RECRUITMENT_WHAT_IF)
        picture = self.picture
        if picture is None or self.what_if_country is None or self.what_if_month is None:
            return Outcome(error="Choose a study with a forecast, a country and a month first.")
        study = self.study
        extra = (ExtraSites(self.what_if_country, int(self.what_if_sites),
                            months_until(picture.as_of, self.what_if_month)),)
        return outcome(lambda: self.reader.read(*queries.recruitment(study, extra)))

    def show_what_if(self, done: Outcome[RecruitmentPicture]) -> RecruitmentPicture | None:
        self.param.update(error=done.error, what_if=done.value)
        return done.value

    def run_what_if(self) -> RecruitmentPicture | None:
        """Forecast and show the what-if (both steps on the calling thread); None with
        ``error`` set when it cannot be made."""
        return self.show_what_if(self.forecast_what_if())
