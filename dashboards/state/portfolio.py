"""The portfolio page's state: every study's status row, filtered by sponsor, therapeutic
area and country."""

from __future__ import annotations

import pandas as pd
import param

from contracts.portfolio_status import STATUS, portfolio_status
from dashboards.state.base import PageState

ALL = "all"


def filtered(rows: pd.DataFrame, sponsor: str, area: str, country: str) -> pd.DataFrame:
    """The studies matching every chosen filter (``ALL`` matches anything); a study
    matches a country when it has a site there."""
    keep = pd.Series(True, index=rows.index)
    if sponsor != ALL:
        keep &= rows["sponsor"] == sponsor
    if area != ALL:
        keep &= rows["therapeutic_area"] == area
    if country != ALL:
        keep &= rows["countries"].map(lambda codes: country in codes)
    return rows[keep.to_numpy(bool)].reset_index(drop=True)


class PortfolioState(PageState):
    sponsor = param.Selector(default=ALL, objects=[ALL], doc="only this sponsor's studies")
    therapeutic_area = param.Selector(default=ALL, objects=[ALL])
    country = param.Selector(default=ALL, objects=[ALL], doc="studies with a site there")
    rows = param.DataFrame(default=None, doc="every study's status (portfolio_status)")
    shown = param.DataFrame(default=None, doc="the rows the filters keep")

    def __init__(self, reader, user, role, **params) -> None:  # noqa: ANN001
        super().__init__(reader, user, role)
        rows = self.attempt(lambda: reader.read(("portfolio_status",), portfolio_status))
        self.rows = rows if rows is not None else STATUS.conform(
            pd.DataFrame(columns=STATUS.names))
        self._choices()
        self.param.update(**{k: v for k, v in params.items() if self._known(k, v)})
        self._filter()

    def _choices(self) -> None:
        rows = self.rows
        for name, values in (("sponsor", rows["sponsor"].dropna()),
                             ("therapeutic_area", rows["therapeutic_area"].dropna()),
                             ("country", pd.Series([c for cs in rows["countries"] for c in cs],
                                                   dtype=object))):
            self.param[name].objects = [ALL, *sorted(set(values.astype(str)))]

    def _known(self, name: str, value: object) -> bool:
        """A filter value from a link that this portfolio does not have is ignored."""
        return name in ("sponsor", "therapeutic_area", "country") and \
            value in self.param[name].objects

    @param.depends("sponsor", "therapeutic_area", "country", watch=True)
    def _filter(self) -> None:
        self.shown = filtered(self.rows, self.sponsor, self.therapeutic_area, self.country)
