"""Generated cohorts with small schools: after solving, no suppressed count is determined.

Each example is a subject's PL schools (1 to 8, some under the threshold) in two sectors and
three start years, as estimates (pooled, school-weighted, sector, years, grade-band and school
rows). The decision is checked with the attacker's own rank test (tests/stages/attacker.py),
not the solver's, over the cells a reader can still not read exactly.
"""

from __future__ import annotations

from fractions import Fraction

import attacker
import pandas as pd
from hypothesis import given, settings
from hypothesis import strategies as st

from pl_eval.report.disclosure import PublishedCells, add_estimates, solve

MIN_N = 10
school = st.tuples(
    st.sampled_from(["charter", "district"]),
    st.sampled_from([2012, 2013, 2014]),
    st.integers(1, 60),
    st.integers(1, 120),
)


def _estimates(schools: list[tuple]) -> tuple[pd.DataFrame, pd.DataFrame]:
    frame = pd.DataFrame(schools, columns=["sector", "start", "n_treated", "n_comparison"])
    frame["group"] = [f"School {i}" for i in range(len(frame))]
    rows = []

    def add(scope, group, part, district=""):
        rows.append({"subject": "math", "scope": scope, "group": group, "district": district,
                     "n_treated": part["n_treated"].sum(),
                     "n_comparison": part["n_comparison"].sum()})  # fmt: skip

    add("pooled", "all", frame)
    add("pooled_schools", "all", frame)
    add("grade_band", "3-5", frame)
    for sector, part in frame.groupby("sector"):
        add("sector", sector, part)
    years = (2014 - frame["start"] + 1).clip(upper=3).map({1: "1", 2: "2", 3: "3+"})
    for label, part in frame.groupby(years):
        add("years", label, part)
    for i in range(len(frame)):
        add("school", frame["group"][i], frame.iloc[[i]], "D1")
    frame_out = pd.DataFrame(
        {"district_name": "D1", "school_name": frame["group"], "sector": frame["sector"],
         "pl_start_year": frame["start"]}
    )  # fmt: skip
    return pd.DataFrame(rows), frame_out


def _determined(cells: PublishedCells, inexact: set) -> list[str]:
    """Primary cells a reader can work out when the rows ``inexact`` are hidden or rounded."""
    places = {c: {(p.table, p.row) for p in ps} for c, ps in cells.places.items()}
    unknown = sorted(c for c, rows in places.items() if rows <= inexact)
    rows = [
        [Fraction(r.get(c, 0)) for c in unknown] for r in cells.relations if set(r) & set(unknown)
    ]
    base = attacker._rank(rows)
    return [
        cell
        for cell, value in sorted(cells.values.items())
        if 0 < value < MIN_N
        and (
            cell not in unknown
            or attacker._rank([*rows, [Fraction(int(c == cell)) for c in unknown]]) == base
        )
    ]


@settings(max_examples=30, deadline=None)
@given(st.lists(school, min_size=1, max_size=8), st.sampled_from([1, 5]))
def test_no_primary_cell_is_determined_after_solving(schools, round_to):
    estimates, frame = _estimates(schools)
    cells = PublishedCells()
    add_estimates(cells, estimates, frame)
    decision = solve(cells, min_n=MIN_N, round_to=round_to)
    assert _determined(cells, decision.hidden | decision.rounded) == []
    for cell, value in cells.values.items():
        if 0 < value < MIN_N:
            assert {(p.table, p.row) for p in cells.places[cell]} <= decision.hidden
    if round_to == 1:
        assert not decision.rounded


def test_the_check_finds_a_school_hidden_alone():
    # a 3-student charter school and two others: hiding only it leaves charter - others
    estimates, frame = _estimates([("charter", 2014, 3, 20), ("charter", 2014, 40, 80),
                                   ("district", 2014, 50, 90)])  # fmt: skip
    cells = PublishedCells()
    add_estimates(cells, estimates, frame)
    primary = solve(cells, min_n=MIN_N).primary
    assert _determined(cells, set(primary)) == ["main|math|school|School 0|D1|n_treated"]
