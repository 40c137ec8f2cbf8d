"""Errors and warnings raised by the matching engine.

Matching works on DataFrames rather than files, so its problems are ``ValueError`` subclasses
whose one-line message names the column and says what to change.
"""

from __future__ import annotations


class MatchingError(ValueError):
    """The frame or options cannot be matched as given; the message says what to change."""


class MatchingWarning(UserWarning):
    """The match ran but something needs the analyst's attention (separation, empty caliper)."""
