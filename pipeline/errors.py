"""Errors for the user's mistakes and warnings for statistical caveats.

Two kinds of trouble, kept apart on purpose:

* :class:`StudyError` -- the user's input is wrong (config, instrument, data). The command line
  prints its message (no traceback) and exits with status 2. It carries one or more
  :class:`Problem` records, each naming the place (file, sheet, row, column or config key) and the
  fix, so that one validation pass can report every problem of a file at once.
* statistical caveats (alpha below .70, a Heywood case, non-convergence, ICC(1) near zero) are not
  errors: each stage returns them as plain-language strings in its result's ``warnings`` tuple;
  ``run.py`` numbers them and the report shows every one.

Row numbers in messages are the row a user sees when opening the file in a spreadsheet or text
editor: the header is row 1 (Qualtrics exports have three header rows, so data start at row 4).
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable


@dataclass(frozen=True)
class Problem:
    """One thing wrong with the user's input, with where it is and how to fix it."""

    message: str
    file: str | None = None
    sheet: str | None = None
    row: int | None = None
    column: str | None = None
    key: str | None = None
    line: int | None = None
    fix: str | None = None

    def where(self) -> str:
        parts = []
        if self.file:
            parts.append(str(self.file))
        if self.sheet is not None:
            parts.append(f"sheet '{self.sheet}'")
        if self.key is not None:
            parts.append(f"key '{self.key}'")
        if self.line is not None:
            parts.append(f"line {self.line}")
        if self.row is not None:
            parts.append(f"row {self.row}")
        if self.column is not None:
            parts.append(f"column '{self.column}'")
        return ", ".join(parts)

    def format(self) -> str:
        where = self.where()
        text = f"{where}: {self.message}" if where else self.message
        if self.fix:
            text += f"\n  Fix: {self.fix}"
        return text


class StudyError(Exception):
    """The user's input is wrong: exit status 2, a readable message, no traceback.

    Parameters
    ----------
    message
        What is wrong, in the user's terms. Ignored for formatting when ``problems`` is given
        except as a headline.
    file, sheet, row, column, key, line, fix
        Where the problem is and how to fix it (see :class:`Problem`).
    problems
        Several problems found in one validation pass; all of them are reported.
    """

    def __init__(
        self,
        message: str = "",
        *,
        file: str | Path | None = None,
        sheet: str | None = None,
        row: int | None = None,
        column: str | None = None,
        key: str | None = None,
        line: int | None = None,
        fix: str | None = None,
        problems: Iterable[Problem] | None = None,
    ) -> None:
        probs = tuple(problems or ())
        if not probs:
            probs = (
                Problem(
                    message,
                    file=str(file) if file is not None else None,
                    sheet=sheet,
                    row=row,
                    column=column,
                    key=key,
                    line=line,
                    fix=fix,
                ),
            )
            headline = ""
        else:
            headline = message
        self.problems: tuple[Problem, ...] = probs
        self.headline = headline
        super().__init__(self.format())

    def format(self, limit: int = 50) -> str:
        lines = []
        if self.headline:
            lines.append(self.headline)
        shown = self.problems[:limit]
        if len(self.problems) > 1:
            lines.extend(f"- {p.format()}".replace("\n", "\n  ") for p in shown)
        else:
            lines.extend(p.format() for p in shown)
        if len(self.problems) > limit:
            lines.append(f"... and {len(self.problems) - limit} more problems of the same kinds.")
        return "\n".join(lines)

    def __str__(self) -> str:  # pragma: no cover - trivial
        return self.format()


@dataclass
class ProblemList:
    """Collects problems during a validation pass, then raises them all at once.

    Examples
    --------
    >>> problems = ProblemList()
    >>> problems.add("unknown label 'Agree strongly'", file="survey.csv", row=4, column="trust_1")
    >>> problems.raise_if_any("The survey export has problems:")
    Traceback (most recent call last):
    ...
    pipeline.errors.StudyError: The survey export has problems:
    survey.csv, row 4, column 'trust_1': unknown label 'Agree strongly'
    """

    items: list[Problem] = field(default_factory=list)

    def add(self, message: str, **where) -> None:
        if "file" in where and where["file"] is not None:
            where["file"] = str(where["file"])
        self.items.append(Problem(message, **where))

    def extend(self, problems: Iterable[Problem]) -> None:
        self.items.extend(problems)

    def __bool__(self) -> bool:
        return bool(self.items)

    def __len__(self) -> int:
        return len(self.items)

    def raise_if_any(self, headline: str = "") -> None:
        if self.items:
            raise StudyError(headline, problems=self.items)


def closest(word: str, options: Iterable[str]) -> str | None:
    """The closest valid option to a misspelt word, or None when nothing is close."""
    matches = difflib.get_close_matches(str(word), list(options), n=1, cutoff=0.6)
    return matches[0] if matches else None


def did_you_mean(word: str, options: Iterable[str]) -> str:
    """' Did you mean 'x'?' or a list of the valid options, for error messages."""
    options = list(options)
    best = closest(word, options)
    if best is not None:
        return f"did you mean '{best}'?"
    if len(options) <= 12:
        return "valid: " + ", ".join(f"'{o}'" for o in options)
    return ""
