"""Errors about an evaluator's input, each rendered as one actionable line.

The CLI prints ``str(error)`` and exits non-zero without a traceback, so every message names
the file (and line and column where there is one) and says what was expected.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

#: How many problems an :class:`InputErrors` prints before summarising the rest.
MAX_LINES = 20
#: Characters of an input file's content a message shows at most.
EXCERPT_CHARS = 40


def excerpt(text: str, limit: int = EXCERPT_CHARS) -> str:
    """``text`` quoted for a one-line message: at most ``limit`` characters of it, control
    characters, line breaks and markup (``<``, ``>``) escaped as in ``repr``, and its length
    when it was cut. A bad cell can be a 10 kB blob, terminal escapes or HTML; the message
    must stay one short, inert line."""
    shown = repr(text[:limit]).replace("<", "\\x3c").replace(">", "\\x3e")
    if len(text) > limit:
        shown += f"... ({len(text):,} characters)"
    return shown


@dataclass(frozen=True)
class Problem:
    """One problem at a place in an input file; ``line`` is 1-based, the header is line 1."""

    file: str
    expected: str
    line: int | None = None
    column: str | None = None
    found: str | None = None

    def __str__(self) -> str:
        where = self.file
        if self.line is not None:
            where += f", line {self.line}"
        if self.column is not None:
            where += f", column {excerpt(self.column)}"
        found = "" if self.found is None else f", found {excerpt(self.found)}"
        return f"{where}: expected {self.expected}{found}"


class InputError(Exception):
    """One or more problems with input files; ``str()`` gives one line per problem."""

    def __init__(self, problems: Problem | Sequence[Problem]):
        self.problems: tuple[Problem, ...] = (
            (problems,) if isinstance(problems, Problem) else tuple(problems)
        )
        super().__init__(str(self))

    @classmethod
    def at(cls, file: str | Path, expected: str, **where) -> InputError:
        """Shorthand for a single problem."""
        return cls(Problem(str(file), expected, **where))

    def __str__(self) -> str:
        lines = [str(p) for p in self.problems[:MAX_LINES]]
        rest = len(self.problems) - MAX_LINES
        if rest > 0:
            lines.append(f"... and {rest} more problems of the same kinds")
        return "\n".join(lines)


class ConfigError(ValueError):
    """A configuration value that cannot be used; the message names the key and what is allowed."""


class NotReady(Exception):
    """check-inputs found problems: every one on its own line (none summarised), then the count."""

    def __init__(self, problems: Sequence[str]):
        self.problems: tuple[str, ...] = tuple(problems)
        super().__init__(str(self))

    def __str__(self) -> str:
        count = len(self.problems)
        plural = "" if count == 1 else "s"
        return "\n".join([*self.problems, f"{count} problem{plural}; the folder is not ready"])
