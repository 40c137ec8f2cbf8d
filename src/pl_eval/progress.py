"""Progress of a stage's long loops: a bar in a terminal, a few plain log lines otherwise.

Run by hand in a terminal (stderr is a TTY) a loop shows a tqdm bar. Otherwise, and whenever
the log also goes to a file (``pl-eval --log``, as every workflow rule runs: a job started
from a terminal still has the terminal as stderr), it logs "matched stratum 3 of 13
(grade=5)" as items complete: after every item when there are at most :data:`EVERY_ITEM`,
else after about every tenth (and the last), so a log never gets thousands of progress lines.
"""

from __future__ import annotations

import logging
import math
import os
import sys
from collections.abc import Callable, Iterable, Iterator
from typing import Any, TypeVar

from pl_eval.errors import printable

T = TypeVar("T")

#: Loops with at most this many items log every item; longer ones about every tenth.
EVERY_ITEM = 20
#: Log lines of a long loop (roughly: the cadence is every ceil(total / STEPS) items).
STEPS = 10


def track(
    items: Iterable[T],
    done: str,
    *,
    logger: logging.Logger,
    total: int | None = None,
    label: Callable[[T], str] | None = None,
) -> Iterator[T]:
    """Yield ``items``, reporting each as done once the loop body has finished with it.

    ``done`` names one finished item ("matched stratum", "read file"); ``label`` describes an
    item in the log line (``"grade=5"`` -> "matched stratum 3 of 13 (grade=5)"). ``total``
    defaults to ``len(items)``. Log lines go through ``logger`` (the calling module's), at
    INFO; with a bar only the last item is logged, once the bar is gone.
    """
    total = len(items) if total is None else total  # type: ignore[arg-type]
    if _terminal() and not _writes_log_file(logger):
        yield from _with_bar(items, done, logger=logger, total=total, label=label)
        return
    step = 1 if total <= EVERY_ITEM else math.ceil(total / STEPS)
    count = 0
    for count, item in enumerate(items, start=1):
        yield item
        if count % step == 0 or count == total:
            _log(logger, done, count, total, item, label)


def _with_bar(
    items: Iterable[T],
    done: str,
    *,
    logger: logging.Logger,
    total: int,
    label: Callable[[T], str] | None,
) -> Iterator[T]:
    item = None
    with tqdm(total=total, desc=done, file=sys.stderr, leave=False, dynamic_ncols=True) as bar:
        for item in items:
            yield item
            bar.update()
    if bar.n:
        _log(logger, done, bar.n, total, item, label)


def tqdm(*args: Any, **kwargs: Any) -> Any:
    """tqdm's bar, imported when a bar is drawn: only a run in a terminal without a log file
    draws one, so a workflow job does not import tqdm (0.01-0.06 CPU s of every job)."""
    from tqdm import tqdm as bar

    return bar(*args, **kwargs)


def _log(
    logger: logging.Logger,
    done: str,
    count: int,
    total: int,
    item: T,
    label: Callable[[T], str] | None,
) -> None:
    # a label is a file or school name, which can hold a line break or a terminal escape
    suffix = f" ({printable(label(item))})" if label is not None else ""
    logger.info("%s %d of %d%s", done, count, total, suffix)


def _writes_log_file(logger: logging.Logger) -> bool:
    """Whether ``logger``'s records reach a log file (os.devnull, which pytest opens, aside)."""
    node: logging.Logger | None = logger
    while node is not None:
        for handler in node.handlers:
            if isinstance(handler, logging.FileHandler) and handler.baseFilename != os.devnull:
                return True
        node = node.parent if node.propagate else None
    return False


def _terminal() -> bool:
    """Whether stderr is an interactive terminal (a bar), not a file or pipe (log lines)."""
    try:
        return sys.stderr.isatty()
    except (AttributeError, ValueError):  # replaced or closed stderr
        return False
