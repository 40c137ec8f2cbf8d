"""Errors and warnings raised by the effect models.

The models work on DataFrames rather than files, so their problems are ``ValueError``
subclasses whose one-line message names the column and says what to change.
"""

from __future__ import annotations


class EstimationError(ValueError):
    """The frame or options cannot be estimated as given; the message says what to change."""


class EstimationWarning(UserWarning):
    """The model ran but something needs the analyst's attention (a term dropped as collinear)."""
