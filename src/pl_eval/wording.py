"""Counts in words, shared by the estimation summaries and the report (both write sentences)."""

from __future__ import annotations


def counted(n: int, noun: str) -> str:
    """``n`` and ``noun``, plural unless ``n`` is 1: "1 PL school", "3 PL schools"."""
    return f"{n} {noun}" if n == 1 else f"{n} {noun}s"
