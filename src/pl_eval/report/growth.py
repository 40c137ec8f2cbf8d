"""The report's growth window and its section on growth against NWEA's norms, as schools read
it: share of students who met NWEA's projected growth and their mean conditional growth
percentile, PL against comparison students, matched and unmatched.

The counts are cells of the report's one disclosure solve (:func:`add_cells`, called from
``render.published_cells``): a count equal to the paired or matched students it is a subset of
is that cell (the same students), any other is a cell of its own. Rows are totals, like the
trajectory's: rounded rather than hidden when they protect another cell; a row under ``min_n``
is hidden with its share and mean.
"""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from pl_eval.estimation.growth_norms import carries_fields
from pl_eval.report.disclosure import ARM_COUNT, ROUND, Decision, PublishedCells
from pl_eval.report.suppression import Suppressed, suppress
from pl_eval.windows import Window

TABLE = "growth_norms"
KEY = ["subject", "sample", "arm"]


@dataclass(frozen=True)
class WindowText:
    """The growth window as the report says it: "fall to winter 2022-2023", its title word
    and, for a window other than fall to spring, a sentence saying what fall and spring mean."""

    name: str
    span: str
    title: str
    note: str
    reasons: dict[str, str]


def window_text(config: dict, school_year: str | None) -> WindowText:
    """The window of config ``panel.window`` for the school year analysed (None: no year)."""
    window = Window.named((config.get("panel") or {}).get("window"))
    span = window.describe(school_year) if school_year else window.name.replace("_", " ")
    note = ""
    if window.name != "fall_to_spring":
        note = (
            f"Growth window: {span}. Throughout this report the \u201cfall\u201d score is the "
            f"baseline test ({window_terms_text(window)}) and the \u201cspring\u201d score "
            f"the outcome test ({window.outcome})."
        )
    reasons = window.reason_labels() if note else {}  # fall to spring: as the reasons read
    title = f"{window.baseline.capitalize()}-to-{window.outcome}"  # "Fall-to-winter"
    return WindowText(window.name, span, title, note, reasons)


def window_terms_text(window: Window) -> str:
    return "the previous school year's spring" if window.years_back else window.baseline


@dataclass(frozen=True)
class GrowthNorms:
    """The section's table (suppressed), whether the exports carry the fields, and its text."""

    table: Suppressed | None  # None: the exports carry no growth fields
    carried: bool
    text: str
    fields: str  # NWEA's field names of the window: "FallToSpringMetProjectedGrowth, ..."

    def tables(self) -> dict[str, pd.DataFrame]:
        return {TABLE: self.table.table} if self.table is not None else {}

    def log(self) -> list[pd.DataFrame]:
        return [self.table.log] if self.table is not None else []


def add_cells(cells: PublishedCells, table: pd.DataFrame) -> None:
    """The section's counts as cells (only when the exports carry the fields: else none are
    published). Added after the sample flow and estimates, whose cells a count may equal."""
    if not carries_fields(table):
        return
    count = table["arm"].map(ARM_COUNT)
    same = ("exclusion|" + table["subject"] + "|" + table["arm"] + "|paired").where(
        table["sample"] == "all", "main|" + table["subject"] + "|pooled|all|" + count
    )
    # a count equal to its superset's is that cell; PublishedCells.add makes any other its own
    cells.add(TABLE, table.assign(_cell=same), key=KEY, cells={"n_students": "{_cell}"},
              action=ROUND)  # fmt: skip


def section(
    table: pd.DataFrame | None,
    window: WindowText,
    *,
    min_n: int,
    decision: Decision | None,
) -> GrowthNorms | None:
    """The section (None without the growth_norms table): suppressed through ``decision``,
    or the sentence that the exports carry no growth fields."""
    if table is None:
        return None
    # NWEA names a window's fields by its seasons: FallToWinter, SpringToSpring
    seasons = Window.named(window.name)
    nwea = seasons.baseline.capitalize() + "To" + seasons.outcome.capitalize()
    fields = f"{nwea}MetProjectedGrowth and {nwea}ConditionalGrowthPercentile"
    if not carries_fields(table):
        text = (
            f"For this window the exports carry no NWEA growth fields ({fields}), so there "
            f"is no growth against NWEA's norms to report."
        )
        return GrowthNorms(None, False, text, fields)
    note = table["note"].astype(object)
    rows = table.assign(note=note.where(note.notna(), "").astype(str)).reset_index(drop=True)
    shown = suppress(
        rows, name=TABLE, counts=["n_students"], key=KEY, group=["subject", "sample"],
        hide=["share_met", "mean_cgp"], min_n=min_n, decision=decision,
    )  # fmt: skip
    text = (
        f"These are NWEA's own projections and conditional growth percentiles for the "
        f"{window.span} window ({fields}), as the exports give them for each student: growth "
        f"against the norms of students nationally who started where they did. They describe "
        f"the students; they are not the effect estimate, which compares PL students with "
        f"their matched comparison students on the national z-score and adjusts for the "
        f"baseline."
    )
    return GrowthNorms(shown, True, text, fields)
