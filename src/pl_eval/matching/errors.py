"""Errors and warnings raised by the matching engine.

Matching works on DataFrames rather than files, so its problems are ``ValueError`` subclasses
whose one-line message names the column and says what to change.
"""

from __future__ import annotations


class MatchingError(ValueError):
    """The frame or options cannot be matched as given; the message says what to change."""


class SeparationError(MatchingError):
    """The propensity model separates treated from comparison rows completely: no treated row
    has a comparable control. A cohort counts its treated rows as unmatched for this reason."""


class MatchingWarning(UserWarning):
    """The match ran but something needs the analyst's attention (separation, empty caliper)."""
