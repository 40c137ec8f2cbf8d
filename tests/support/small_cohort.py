"""A simulated cohort smaller than the demo (12 PL schools, 60 comparison schools, one school
year), for workflow tests that need a second or a quick cohort, not the demo's 40 schools."""

from __future__ import annotations

from dataclasses import replace


def small_settings(seed: int = 20141, school_year: str = "2022-2023"):
    """The small cohort's simulation settings (a SimulationSettings), of one school year: the
    panel needs no school_years entry for it."""
    from pl_eval import simulate

    return replace(
        simulate.SimulationSettings.preset("demo", seed),
        n_treated_schools=12, n_treated_charter=9, treated_years=(5, 4, 3),
        n_comparison_schools=60, n_treated_rural=1, n_treated_charter_in_districts=1,
        school_years=(school_year,),
    )  # fmt: skip
