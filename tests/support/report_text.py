"""What a reader of a report page sees in words: its text and its images' alt texts, to check
that no placeholder of a missing number ("nan", "<NA>", "inf") reaches the page, and that one
school is never "1 schools"."""

from __future__ import annotations

import re
from html.parser import HTMLParser
from pathlib import Path

#: A missing or infinite number printed as it is, where words or a dash belong.
UNFILLED = re.compile(r"\b(?:nan|NaN|NAN|inf|Inf)\b|<NA>|\bNaT\b")
#: One of something counted as many ("1 PL schools", "of the 1 other PL schools").
MISCOUNTED = re.compile(r"(?<![\d.,])\b1 (?:other )?(?:PL |comparison )?(?:schools|students)\b")


class _Runs(HTMLParser):
    """The runs of text outside style and script elements, and every alt, title and
    aria-label."""

    def __init__(self):
        super().__init__()
        self.runs: list[str] = []
        self._hidden = 0

    def handle_starttag(self, tag, attrs):
        if tag in ("style", "script"):
            self._hidden += 1
        self.runs += [v for k, v in attrs if k in ("alt", "title", "aria-label") and v]

    def handle_endtag(self, tag):
        if tag in ("style", "script"):
            self._hidden -= 1

    def handle_data(self, data):
        if not self._hidden:
            self.runs.append(data)


def _runs(page: Path) -> list[str]:
    """A page's runs of text between tags, and its alt texts, whitespace collapsed."""
    parser = _Runs()
    parser.feed(page.read_text(encoding="utf-8"))
    return [" ".join(run.split()) for run in parser.runs]


def words(page: Path) -> str:
    """A page's text and alt texts, whitespace collapsed."""
    return " ".join(" ".join(_runs(page)).split())


def unfilled(page: Path) -> list[str]:
    """Each placeholder of a missing number on ``page``, with the words around it."""
    return _found(page, UNFILLED)


def miscounted(page: Path) -> list[str]:
    """Each count of one written in the plural on ``page``, with the words around it."""
    return _found(page, MISCOUNTED)


def _found(page: Path, pattern: re.Pattern) -> list[str]:
    """Each match of ``pattern`` within one run of text (so never a number in one table cell
    read with the heading of the next row), with the words around it."""
    return [
        run[max(0, m.start() - 60) : m.end() + 60]
        for run in _runs(page)
        for m in pattern.finditer(run)
    ]
