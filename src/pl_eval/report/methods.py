"""How the comparison group was built and what the model adjusted for, in words, from the
configuration in effect (never a fixed sentence, so the report says what was actually done)."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import date

from pl_eval.config import analysis_section, resolved_estimate
from pl_eval.matching.cohort import MatchConfig
from pl_eval.norms import SchoolCalendar

#: Panel columns in the report's words; any other column is named as it is.
COLUMN_WORDS = {
    "fall_z": "fall score",
    "fall_rit": "fall RIT score",
    "frl_pct": "school FRL share",
    "locale_group": "locale group",
    "gender": "gender",
    "grade": "grade",
    "ethnicity": "ethnicity",
    "days_between": "number of days between the tests",
}


@dataclass(frozen=True)
class MethodText:
    """The methods section's sentences about matching and adjustment."""

    matching: str  # how each PL student's comparison students were found (or weighted)
    adjustment: str  # what the effect model adjusts for: "adjusted for the fall score, ..."
    norming: str = ""  # how scores became national z-scores and percentiles (at which week)


def words(names: list[str] | tuple[str, ...]) -> str:
    """Columns as a phrase: "fall score, school FRL share and gender"."""
    return words_of([COLUMN_WORDS.get(n, n.replace("_", " ")) for n in names])


def method_text(config: dict, analysis: str = "main") -> MethodText:
    """The sentences for ``analysis`` (the main specification) of ``config``."""
    if analysis in (config.get("analyses") or {}):
        match = analysis_section(config, analysis, "match")
        estimate = analysis_section(config, analysis, "estimate")
    else:
        match, estimate = dict(config.get("match", {})), dict(config.get("estimate", {}))
    settings = MatchConfig.from_config(match)
    covariates = resolved_estimate(estimate, asdict(settings)).get(
        "covariates", list(MatchConfig.covariates) + list(MatchConfig.exact)
    )
    panel = (
        analysis_section(config, analysis, "panel")
        if analysis in (config.get("analyses") or {})
        else dict(config.get("panel", {}))
    )
    return MethodText(
        matching=_matching(settings),
        adjustment=_adjustment(list(covariates)),
        norming=_norming(panel),
    )


def _norming(panel: dict) -> str:
    """The sentence on norming: at each test's instructional week, or the seasons' defaults."""
    study = f"NWEA's {panel.get('norms_year', 2020)} national norms"
    if panel.get("norms_week", "test_date") == "default":
        return (
            f"Fall and spring scores are converted to national z-scores and percentiles with "
            f"{study} at NWEA's default weeks of instruction (week 4 in the fall, 32 in the "
            f"spring), whatever the test date."
        )
    calendar = SchoolCalendar.from_settings(panel.get("calendar", {}))
    first_day = date(2001, *map(int, calendar.first_day.split("-")))
    return (
        f"Fall and spring scores are converted to national z-scores and percentiles with "
        f"{study} at each test's own week of instruction (weeks from the first day of school, "
        f"{first_day.day} {first_day:%B}, to the test date, less school breaks), as NWEA norms a "
        f"score, so a school that tests earlier in the fall or later in the spring is not "
        f"credited with the growth the norms expect over the extra weeks."
    )


def _matching(s: MatchConfig) -> str:
    exact = f" in the same {words(s.exact)}" if s.exact else ""
    strata = (
        f" Each {words(s.strata)} is matched separately, with its own propensity model."
        if s.strata
        else ""
    )
    if s.method == "vcg":
        v = s.vcg
        return (
            f"Each PL student is compared with a virtual comparison group: up to "
            f"{v.max_matches} students drawn at random from non-PL schools{exact}, with a fall "
            f"RIT score within {v.baseline_tolerance:g} points, a school FRL share within "
            f"{v.frl_band:g} percentage points, the same locale group and test dates within "
            f"{v.date_window_days:g} days; PL students with fewer than {v.min_matches} such "
            f"students are left out.{strata}"
        )
    model = (
        f"a propensity score (the modelled chance of attending a PL school given "
        f"{words(s.covariates)})"
    )
    if s.method == "entropy":
        return (
            f"PL students are not matched: every student of a non-PL school{exact} is weighted "
            f"so that the weighted comparison students have the PL students' averages of "
            f"{words(s.covariates)}, and the same spread of those that are numbers (entropy "
            f"balancing); PL students whose averages no weighting can reach are left out."
            f"{strata}"
        )
    if s.method == "ipw":
        return (
            f"PL students are not matched: every student of a non-PL school{exact} is weighted "
            f"by the odds of attending a PL school from {model}, so that the weighted "
            f"comparison students resemble the PL students; students outside the other "
            f"group's range of the score are left out.{strata}"
        )
    calipers = [] if s.caliper is None else [f"a propensity score within {s.caliper:g} SD"]
    calipers += [
        f"a {COLUMN_WORDS.get(name, name.replace('_', ' '))} within {width:g} SD"
        for name, width in s.covariate_calipers.items()
    ]
    within = f", each with {words_of(calipers)} of the PL student's" if calipers else ""
    reuse = (
        "a comparison student may serve several PL students"
        if s.replace
        else "each comparison student serves at most one PL student"
    )
    return (
        f"Each PL student is matched to the {s.ratio} nearest "
        f"student{'s' if s.ratio != 1 else ''} of non-PL schools{exact} on {model}"
        f"{within}; {reuse}. PL students with no such comparison student are left out."
        f"{strata}"
    )


def words_of(phrases: list[str]) -> str:
    """Phrases joined as a list in a sentence: "a, b and c"."""
    if len(phrases) < 2:
        return "".join(phrases)
    return f"{', '.join(phrases[:-1])} and {phrases[-1]}"


def _adjustment(covariates: list[str]) -> str:
    if not covariates:
        return "not adjusted for any covariate"
    return f"adjusted for {words(covariates)}"
