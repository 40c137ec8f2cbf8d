"""Errors about an evaluator's input, each rendered as one actionable line.

The CLI prints ``str(error)`` and exits non-zero without a traceback, so every message names
the file (and line and column where there is one) and says what was expected. File-system
errors (OSError: a folder for a file, no permission, a full or read-only disk) become one line
the same way, through :func:`os_error_line`; text from a file is echoed only as a short escaped
excerpt (:func:`excerpt`, :func:`quoted`).
"""

from __future__ import annotations

import errno
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from pl_eval.wording import counted

#: How many problems an :class:`InputError` prints before summarising the rest (one more is
#: printed rather than summarised: a file's rows beyond those listed are counted in one).
MAX_LINES = 20
#: Characters of an input file's content a message shows at most.
EXCERPT_CHARS = 40


def quoted(text: str, limit: int = EXCERPT_CHARS) -> str:
    """``text`` quoted for a one-line message: at most ``limit`` characters of it, control
    characters, line breaks and markup (``<``, ``>``) escaped as in ``repr``, and its length
    when it was cut. A bad cell can be a 10 kB blob, terminal escapes or HTML; the message
    must stay one short, inert line."""
    text = str(text)
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
        where = printable(self.file)
        if self.line is not None:
            where += f", line {self.line}"
        if self.column is not None:
            where += f", column {quoted(self.column)}"
        found = "" if self.found is None else f", found {quoted(self.found)}"
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
        if len(self.problems) <= MAX_LINES + 1:  # a line for one problem says more than "1 more"
            return "\n".join(map(str, self.problems))
        lines = [str(p) for p in self.problems[:MAX_LINES]]
        rest = counted(len(self.problems) - MAX_LINES, "more problem")
        return "\n".join([*lines, f"... and {rest} of the same kinds"])


class ConfigError(ValueError):
    """A configuration value that cannot be used; the message names the key and what is allowed."""


class NotReady(Exception):
    """check-inputs found problems: every one on its own line (none summarised), then the count."""

    def __init__(self, problems: Sequence[str]):
        self.problems: tuple[str, ...] = tuple(problems)
        super().__init__(str(self))

    def __str__(self) -> str:
        problems = counted(len(self.problems), "problem")
        return "\n".join([*self.problems, f"{problems}; the folder is not ready"])


#: What an operating-system error means and what to do about it, by errno (see os_error_line).
_OS_ERRORS = {
    errno.ENOENT: ("does not exist", "check the path"),
    errno.EISDIR: ("is a folder, not a file", "give the path of a file"),
    errno.ENOTDIR: (
        "part of this path is a file, not a folder",
        "move that file away or choose another folder",
    ),
    errno.EACCES: (
        "permission denied",
        "give this user access to it (chmod, chown) or choose another path",
    ),
    errno.EROFS: (
        "is on a read-only file system",
        "write to a folder on a writable disk, or remount it read-write",
    ),
    errno.ENOSPC: (
        "no space left on the disk",
        "free some space (or write to another disk) and run again",
    ),
    errno.EDQUOT: (
        "disk quota exceeded",
        "free some space (or write to another disk) and run again",
    ),
    errno.ENAMETOOLONG: ("the name is too long", "choose a shorter path"),
}
_OS_ERRORS[errno.EPERM] = _OS_ERRORS[errno.EACCES]
#: Characters of a path or a system message quoted in an error line.
LONGEST_EXCERPT = 80


def excerpt(text: str, limit: int = LONGEST_EXCERPT) -> str:
    """``text`` safe to echo in one error line: :func:`printable`, cut to ``limit``
    characters with "..."."""
    shown = printable(text)
    return shown if len(shown) <= limit else shown[: limit - 3] + "..."


def printable(text: str) -> str:
    """``text`` with non-printable characters escaped as in Python literals (a line break
    becomes ``\\n``, a terminal escape ``\\x1b``): a file name can hold either."""
    return "".join(c if c.isprintable() else repr(c)[1:-1] for c in str(text))


def os_error_line(error: OSError, action: str | None = None) -> str:
    """One line for a file-system error: the path, what is wrong, and what to do (``action``,
    else what suits the error).

    Python raises these as OSError with ``errno`` and ``filename``; for pyarrow's see
    :func:`errno_of`.
    """
    code = errno_of(error)
    path = error.filename if error.filename is not None else error.filename2
    where = excerpt(str(path), limit=400) if path is not None else "a file"
    what, usual = _OS_ERRORS.get(code, (None, "check the path and the disk, then run again"))
    if what is None:
        what = excerpt(error.strerror or str(error) or type(error).__name__)
    return f"{where}: {what}; {action or usual}"


def errno_of(error: OSError) -> int | None:
    """The errno of ``error``: pyarrow's OSErrors leave ``errno`` unset and quote it in their
    message ("[errno 28] ..."), or give only the subclass (FileNotFoundError)."""
    if error.errno is not None:
        return error.errno
    for kind, code in _ERRNO_OF_KIND.items():
        if isinstance(error, kind):
            return code
    found = re.search(r"\[errno (\d+)\]", str(error), re.IGNORECASE)
    return int(found.group(1)) if found else None


_ERRNO_OF_KIND = {
    FileNotFoundError: errno.ENOENT,
    IsADirectoryError: errno.EISDIR,
    NotADirectoryError: errno.ENOTDIR,
    PermissionError: errno.EACCES,
}
