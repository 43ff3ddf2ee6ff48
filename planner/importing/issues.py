"""Import problems as values: collected, never thrown one by one."""

from __future__ import annotations

from dataclasses import dataclass

HEADER_ROW = 1  # rows are numbered as a spreadsheet shows them: header 1, first data row 2


@dataclass(frozen=True, slots=True)
class ImportIssue:
    """One thing wrong with an input file, located as a user would find it."""

    file: str
    row: int | None
    column: str | None
    value: str | None
    expected: str

    def __str__(self) -> str:
        where = [self.file]
        if self.row is not None:
            where.append(f"row {self.row}")
        if self.column is not None:
            where.append(f"column {self.column}")
        shown = "" if self.value is None else f" value {self.value!r}:"
        return f"{', '.join(where)}:{shown} expected {self.expected}"


class ImportRejected(Exception):
    """The input was refused; nothing was written. Carries every issue found."""

    def __init__(self, issues: list[ImportIssue]) -> None:
        self.issues = issues
        super().__init__(f"{len(issues)} problem(s) in the input")

    def report(self, limit: int = 200) -> str:
        lines = [str(issue) for issue in self.issues[:limit]]
        if len(self.issues) > limit:
            lines.append(f"... and {len(self.issues) - limit} more problem(s)")
        return "\n".join(lines)


def raise_if_any(issues: list[ImportIssue]) -> None:
    if issues:
        raise ImportRejected(issues)
