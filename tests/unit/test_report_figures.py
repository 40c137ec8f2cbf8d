"""Report figures on hand-made tables with missing numbers, and names that look like markup.

Every figure is drawn (saved to memory), since matplotlib parses text only when it renders.
"""

from __future__ import annotations

import io as bytes_io

import numpy as np
import pandas as pd
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from pl_eval.report import figures

#: A school name that is mathtext, HTML and a quote at once; and one that mathtext rejects.
MARKUP = 'A$x^2$ <b>&"Academy"'
BAD_MATH = r"Price $\notacommand$ Prep"


def _drawn(fig) -> list[str]:
    """Render ``fig`` (as saving it would) and return every text drawn on it."""
    fig.savefig(bytes_io.BytesIO(), format="png")
    texts = [t for ax in fig.axes for t in (*ax.texts, *ax.get_yticklabels(), ax.title)]
    return [t.get_text() for t in texts]


def _pooled(estimate: float | None = 0.1, note: str = "") -> pd.Series:
    return pd.Series({"subject": "math", "estimate": estimate, "note": note})


def _breakouts() -> pd.DataFrame:
    """Sector and years of PL, as the report's suppressed table holds them (nullable floats):
    district has no PL students, year 2 rests on few PL schools."""
    frame = pd.DataFrame(
        {
            "subject": "math",
            "scope": ["sector", "sector", "years", "years"],
            "group": ["charter", "district", "1", "2"],
            "estimate": [0.12, None, 0.09, 0.3],
            "ci_low": [0.04, None, 0.03, -0.5],
            "ci_high": [0.2, None, 0.15, 1.1],
            "n_treated": [190, 0, 282, 13],
            "note": ["", "no PL students", "", "few PL schools (2): CR2 small-sample df 1.3"],
        }
    )
    return frame.astype({c: "Float64" for c in ("estimate", "ci_low", "ci_high")})


def test_breakout_group_without_pl_students_shows_its_note_not_a_point():
    fig = figures.breakout_plot(_breakouts(), _pooled())
    texts = _drawn(fig)
    assert "no estimate: no PL students" in texts
    assert "2 (few PL schools)" in texts and "district" in texts
    assert "district no estimate: no PL students" in fig.get_label()
    assert "charter 0.12 (0.04 to 0.20)" in fig.get_label()
    assert "by sector, years of PL: " in fig.get_label()  # PL kept in capitals
    # one point per estimated group: charter, 1 and 2
    points = [line for ax in fig.axes for line in ax.lines if line.get_marker() == "o"]
    assert sum(len(line.get_xdata()) for line in points) == 3


def test_breakout_plot_with_every_group_suppressed_says_so():
    fig = figures.breakout_plot(_breakouts().iloc[:0], _pooled())
    assert "every group is suppressed" in " ".join(_drawn(fig))
    assert fig.get_label().startswith("No breakout group of math can be shown")


def _schools(names=("Alpha", MARKUP, BAD_MATH)) -> pd.DataFrame:
    frame = pd.DataFrame(
        {
            "group": list(names),
            "sector": ["charter", "district", "charter"],
            "estimate": [0.2, -0.05, None],
            "ci_low": [0.1, -0.15, None],
            "ci_high": [0.3, 0.05, None],
            "shrunken_estimate": [0.15, None, None],
            "n_treated": [40, 25, 12],
            "note": ["", "", "too few students for a school estimate (8 < 10)"],
        }
    )
    return frame.astype({c: "Float64" for c in ("estimate", "ci_low", "ci_high")})


def test_forest_plot_lists_a_school_without_estimate_and_a_pooled_row_without_one():
    [fig] = figures.forest_plots(_schools(), _pooled(None, "one cluster"), n_suppressed=2)
    texts = _drawn(fig)
    assert "no estimate: too few students for a school estimate (8 < 10)" in texts
    assert f"{BAD_MATH} (n = 12)" in texts  # listed last, drawn as written
    label = fig.get_label()
    assert "the pooled effect has no estimate: one cluster" in label
    assert "from lowest (-0.05 SD) to highest (0.20 SD)" in label
    assert f"{BAD_MATH}: no estimate: too few students" in label
    legend = [t.get_text() for t in fig.legends[0].get_texts()]
    assert "pooled: no estimate" in legend


def test_forest_plot_without_schools_says_why():
    [fig] = figures.forest_plots(_schools().iloc[:0], _pooled(), n_suppressed=3)
    assert fig.get_label() == "No school effects for math: 3 schools not shown: too few students."
    _drawn(fig)
    [fig] = figures.forest_plots(_schools(), _pooled(), n_suppressed=1)
    assert fig.get_label().endswith(" 1 school not shown: too few students.")
    assert "of 3 PL schools' math effects" in fig.get_label()
    assert "1 interval lies above zero and 0 below" in fig.get_label()
    [fig] = figures.forest_plots(_schools().iloc[:1], _pooled())
    assert fig.get_label().startswith(
        "Forest plot of 1 PL school's math effect (0.20 SD) with its 95% interval; the pooled "
        "effect is 0.10 SD. 1 interval lies above zero"
    )


def _study(n: int, long_name: bool = False) -> pd.DataFrame:
    """``n`` schools: the first without an estimate, the others from -0.5 to 0.6 SD (lowest
    first) with intervals of ±0.1; with ``long_name``, one name takes two lines."""
    names = [f"School {i:03d}" for i in range(n)]
    if long_name:
        names[n // 2] = "Thurgood Marshall Academy Public Charter High School"
    estimate = np.r_[np.nan, np.linspace(-0.5, 0.6, n - 1)]
    return pd.DataFrame(
        {
            "group": names,
            "sector": ["charter", "district"] * (n // 2) + ["charter"] * (n % 2),
            "estimate": estimate,
            "ci_low": estimate - 0.1,
            "ci_high": estimate + 0.1,
            "shrunken_estimate": estimate / 2,
            "n_treated": 30,
            "note": ["too few students for a school estimate (8 < 10)"] + [""] * (n - 1),
        }
    )


@pytest.mark.parametrize(
    ("n", "long_name", "sizes"),
    [
        (40, False, [40]),  # the demo's and the national cohort's 40 PL schools: one plot
        (41, False, [21, 20]),
        (62, False, [31, 31]),  # RAND 2015's 62 schools
        (100, False, [34, 33, 33]),
        (26, True, [26]),  # rows of 0.3 in: 26 fill a plot
        (27, True, [14, 13]),
    ],
)
def test_a_large_study_is_drawn_in_parts_that_print_readably(n, long_name, sizes):
    # One plot of 62 schools was 14.5 in tall: printed at most 195 mm tall, its school labels
    # shrank from 6.5 pt to 3.4 pt (100 schools: 2.3 pt)
    study = _study(n, long_name)
    parts = figures.forest_plots(study, _pooled(0.05))
    ticks = [[t.get_text() for t in fig.axes[0].get_yticklabels()][::-1] for fig in parts]
    assert [len(rows) for rows in ticks] == sizes
    # read top down, the parts are the whole plot: the school without an estimate, then the
    # highest estimate down to the lowest, every school once
    top_down = [figures.name_label(name) + " (n = 30)" for name in study["group"][::-1]]
    assert sum(ticks, []) == [top_down[-1], *top_down[:-1]]
    for k, fig in enumerate(parts, 1):
        assert fig.get_size_inches()[1] <= 1.8 + figures.LEGEND_HEIGHT + figures.FOREST_HEIGHT
        assert len(fig.legends) == 1
        first = sum(sizes[: k - 1]) + 1
        where = f" (part {k} of {len(parts)}: rows {first}–{first + sizes[k - 1] - 1} of {n})"
        where = where if len(parts) > 1 else ""
        assert fig.axes[0].get_title() == f"School effects, math{where}"
        assert fig.get_label().startswith(f"Forest plot{where} of {sizes[k - 1]} PL schools'")
    # one x axis: every part's limits hold every school's interval
    limits = {fig.axes[0].get_xlim() for fig in parts}
    assert len(limits) == 1
    [(low, high)] = limits
    assert low < study["ci_low"].min() and high > study["ci_high"].max()
    assert "no estimate: too few students" in parts[0].get_label()


def test_school_names_are_drawn_literally_never_as_mathtext():
    [fig] = figures.forest_plots(_schools(), _pooled())
    texts = _drawn(fig)  # BAD_MATH would raise ValueError in mathtext
    assert f"{MARKUP} (n = 25)" in texts
    labels = [t for t in fig.axes[0].get_yticklabels() if "$" in t.get_text()]
    assert len(labels) == 2 and not any(t.get_parse_math() for t in labels)
    # the rcParams are restored after drawing
    import matplotlib

    assert matplotlib.rcParams["text.parse_math"] is True


#: A campus name as networks write them: one hyphenated "word" wider than the figure.
LONG = "Academy-of-Personalized-Learning-for-Science-Technology-Engineering-and-Mathematics" * 2


def test_name_label_wraps_a_long_name_on_two_lines_and_cuts_it_short_after_them():
    assert figures.name_label("Cherry Hill Early College High School") == (
        "Cherry Hill Early College High School"  # 37 characters: as it is
    )
    assert figures.name_label("Thurgood Marshall Academy Public Charter High School") == (
        "Thurgood Marshall Academy Public Charter\nHigh School"
    )
    assert figures.name_label(LONG) == (
        "Academy-of-Personalized-Learning-for-\nScience-Technology-Engineering-and-…"
    )
    assert figures.name_label("x" * 90) == "x" * 40 + "\n" + "x" * 39 + "…"


@given(st.text(max_size=200))
@example("\t" * 41)  # tabs expand to eight spaces each
@example(" " * 60)
def test_name_label_never_draws_a_line_wider_than_the_width(name):
    label = figures.name_label(name)
    if len(name) <= figures.LABEL_WIDTH:
        assert label == name
    else:
        lines = label.split("\n")
        assert len(lines) <= 2 and all(len(line) <= figures.LABEL_WIDTH for line in lines)


@settings(max_examples=25, deadline=None)
@given(n=st.integers(1, 130), unknown=st.integers(0, 130), long_name=st.booleans())
def test_the_parts_of_any_forest_plot_are_the_whole_plot_cut_evenly(n, unknown, long_name):
    study = _study(n, long_name)
    study.loc[: unknown - 1, ["estimate", "ci_low", "ci_high", "shrunken_estimate"]] = np.nan
    parts = figures.forest_plots(study, _pooled(None))
    sizes = [len(fig.axes[0].get_yticks()) for fig in parts]
    most = 26 if long_name else 40
    assert len(parts) == -(-n // most) and max(sizes) <= most and max(sizes) - min(sizes) <= 1
    # top down: the schools without an estimate (last by name first), then the highest
    # estimate down to the lowest
    known = study["estimate"].notna()
    order = [*sorted(study[~known]["group"], reverse=True),
             *study[known].sort_values("estimate")["group"][::-1]]  # fmt: skip
    drawn = [t.get_text() for fig in parts for t in fig.axes[0].get_yticklabels()[::-1]]
    assert drawn == [figures.name_label(name) + " (n = 30)" for name in order]


@pytest.mark.parametrize(
    ("n", "long_name", "size"),
    [
        (40, False, 6.0),
        # 55 rows on the page's 5.3 in of axes: 6.5 pt a row, names of 1.2 lines at 5.4 pt
        (56, False, 5.4),
        (62, False, None),  # names under 5 pt: the others go unnamed
        (24, True, 6.0),
        (28, True, 5.6),  # 27 rows of 13.4 pt, for names of two lines
        (40, True, None),
    ],
)
def test_named_schools_never_run_into_each_other_on_a_school_page(n, long_name, size):
    # With report.school_pages.name_others, 62 schools' 6 pt names overlapped on the page's
    # 6 in figure (each row had 5.7 pt): unreadable
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    schools = _study(n, long_name).assign(subject="math", district="D1")
    fig = figures.position_plot(schools, "School 010", "D1", pd.Series({"math": 0.1}), True)
    canvas = FigureCanvasAgg(fig)
    canvas.draw()
    labels = [t for t in fig.axes[0].get_yticklabels() if t.get_text()]
    boxes = sorted((t.get_window_extent(canvas.get_renderer()) for t in labels), key=lambda b: b.y0)
    assert all(below.y1 <= above.y0 for below, above in zip(boxes, boxes[1:], strict=False))
    if size is None:
        assert [t.get_text() for t in labels] == ["School 010"]
        note = f"The other schools are not named in the figure: {n - 2} are too many"
        assert fig.get_suptitle().startswith(note) and note in fig.get_label()
        assert "School 011 -" in fig.get_label()  # the alt text names them all
    else:
        assert len(labels) == n - 1  # every school with an estimate
        assert [t.get_fontsize() for t in labels] == [pytest.approx(size, abs=0.1)] * (n - 1)
        assert "not named" not in fig.get_label() and fig.get_suptitle() == ""


def test_a_school_page_position_without_an_interval_or_other_schools_says_so():
    # an estimate without an interval (too few comparison schools), the only one shown
    alone = _schools().iloc[:1].assign(subject="math", district="D1", ci_low=None, ci_high=None)
    fig = figures.position_plot(alone, "Alpha", "D1", pd.Series({"math": 0.1}), True)
    assert fig.get_label().endswith(
        "math: this school's estimate 0.20 SD (no interval, shrunken 0.15) is the only PL "
        "school estimate shown."
    )
    legend = [t.get_text() for t in fig.legends[0].get_texts()]
    assert legend == ["this school", "this school, shrunken", "all PL students"]


@pytest.mark.parametrize("draw", ["forest", "position", "comparison"])
def test_a_long_name_leaves_the_plot_its_width(draw, recwarn):
    # Written out on one line, the name pushed constrained layout past the figure's edge: it
    # gave up ("axes sizes collapsed to zero") and the label ran off the figure's left side.
    schools = _schools(names=("Alpha", LONG, "Gamma"))
    if draw == "forest":
        [fig] = figures.forest_plots(schools, _pooled())
    elif draw == "position":
        schools = schools.assign(subject="math", district="D1")
        fig = figures.position_plot(schools, "Alpha", "D1", pd.Series({"math": 0.1}), True)
    else:  # cohorts are named by their folders
        cohorts = _breakouts().assign(scope="pooled", cohort=[LONG, "2021-2022", "a", "b"])
        fig = figures.comparison_plot(cohorts, "cohort", "cohort", highlight=LONG)
        bold = [t.get_text() for t in fig.axes[0].get_yticklabels() if t.get_fontweight() == "bold"]
        assert bold == [figures.name_label(LONG)] and LONG in fig.get_label()
    texts = _drawn(fig)
    assert any(text.startswith("Academy-of-Personalized-Learning-for-\n") for text in texts)
    assert not [w for w in recwarn if "constrained_layout not applied" in str(w.message)]
    left = min(t.get_window_extent().x0 for t in fig.axes[0].get_yticklabels())
    assert left >= 0  # every label on the figure
    assert fig.axes[0].get_position().width > 0.5  # the plot keeps most of the width


def _trajectory() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "subject": ["math"] * 4 + ["reading"] * 4,
            "arm": ["treated", "treated", "comparison", "comparison"] * 2,
            "season": ["fall", "spring"] * 4,
            "mean_percentile": [43.1, 46.1, 43.2, 43.7, 43.4, 46.2, 43.5, 44.0],
            "ci_low": [41.6, 43.8, 42.3, 42.8, 41.9, 44.0, 42.6, 43.2],
            "ci_high": [44.6, 48.4, 44.0, 44.5, 45.0, 48.4, 44.3, 44.8],
            "n_students": [300, 300, 600, 600, 300, 300, 600, 600],
        }
    ).astype({"mean_percentile": "Float64", "ci_low": "Float64", "ci_high": "Float64"})


#: Four schools, the lowest with a wide interval reaching past the pooled line: the lower
#: right corner, where the forest plot's legend sat, held its interval and the next one's.
FEW = pd.DataFrame(
    {
        "group": ["Alpha", "Beta", "Gamma", "Delta"],
        "sector": ["charter", "district", "charter", "district"],
        "estimate": [-0.3, 0.05, 0.15, 0.25],
        "ci_low": [-0.8, -0.05, 0.05, 0.15],
        "ci_high": [0.2, 0.15, 0.25, 0.35],
        "shrunken_estimate": [-0.05, 0.06, 0.13, 0.2],
        "n_treated": [12, 80, 90, 100],
        "note": "",
    }
).astype({c: "Float64" for c in ("estimate", "ci_low", "ci_high")})


@pytest.mark.parametrize("draw", ["forest", "position", "trajectory", "love"])
def test_a_legend_never_covers_the_data(draw):
    # Each legend sat in a corner of the axes: over the lowest schools' intervals in a forest
    # plot of four, over the PL schools' fall interval in the national trajectory plot.
    if draw == "forest":
        [fig] = figures.forest_plots(FEW, _pooled(0.1))
        expected = ["charter (raw)", "district (raw)", "shrunken (empirical Bayes)", "pooled 0.10"]
    elif draw == "position":
        schools = FEW.assign(subject="math", district="D1")
        fig = figures.position_plot(schools, "Alpha", "D1", pd.Series({"math": 0.1}), True)
        expected = [  # this school first (matplotlib's order put it last)
            "this school (95% CI)", "this school, shrunken", "all PL students", "other PL schools"
        ]  # fmt: skip
    elif draw == "trajectory":
        fig = figures.trajectory_plot(_trajectory())
        expected = ["PL schools", "Matched comparison"]
    else:
        table = pd.DataFrame(
            {
                "covariate": ["fall_z", "fall_z", "frl_pct", "frl_pct"],
                "sample": ["all", "matched"] * 2,
                "smd": [0.14, 0.0, 2.7, 0.0],
                "abs_smd": [0.14, 0.0, 2.7, 0.0],
                "note": "",
            }
        )
        fig = figures.love_plot(table)
        expected = ["|SMD| = 0.1", "Before matching", "After matching"]
    _drawn(fig)
    assert all(ax.get_legend() is None for ax in fig.axes)
    [legend] = fig.legends
    assert [t.get_text() for t in legend.get_texts()] == expected
    box = legend.get_window_extent()
    assert not any(box.overlaps(ax.get_window_extent()) for ax in fig.axes)
    assert box.x0 >= 0 and box.x1 <= fig.bbox.width and box.y0 >= 0  # on the figure


def test_trajectory_with_an_arm_without_students_names_it():
    trajectory = pd.DataFrame(
        {
            "subject": ["math"] * 4 + ["reading"] * 4,
            "arm": ["treated", "treated", "comparison", "comparison"] * 2,
            "season": ["fall", "spring"] * 4,
            "mean_percentile": [40.0, 45.0, 41.0, 42.0, None, None, 50.0, 52.0],
            "ci_low": [38.0, 43.0, 39.0, 40.0, None, None, 48.0, 50.0],
            "ci_high": [42.0, 47.0, 43.0, 44.0, None, None, 52.0, 54.0],
            "n_students": [300, 300, 600, 600, 0, 0, 80, 80],
        }
    ).astype({"mean_percentile": "Float64", "ci_low": "Float64", "ci_high": "Float64"})
    fig = figures.trajectory_plot(trajectory)
    assert "not shown (no students or suppressed): PL schools" in _drawn(fig)
    assert "reading PL schools: no mean (no students or suppressed)" in fig.get_label()
    assert "math PL schools from 40.0 to 45.0" in fig.get_label()  # PL kept in capitals


def test_comparison_plot_leaves_out_rows_without_estimates_and_says_when_none_is_left():
    rows = pd.DataFrame(
        {
            "analysis": ["main", "main", "vcg"],
            "subject": "math",
            "scope": ["pooled", "sector", "pooled"],
            "group": ["all", "charter", "all"],
            "estimate": [0.1, None, 0.12],
            "ci_low": [0.05, None, 0.02],
            "ci_high": [0.15, None, 0.22],
        }
    ).astype({"estimate": "Float64", "ci_low": "Float64", "ci_high": "Float64"})
    fig = figures.comparison_plot(rows, "analysis", "specification", highlight="main")
    _drawn(fig)
    assert "range from 0.10 (main) to 0.12 (vcg)" in fig.get_label()
    none = figures.comparison_plot(rows.iloc[:0], "cohort", "cohort")
    assert "No cohort has an estimate that can be shown" in " ".join(_drawn(none))


def test_love_plot_from_a_balance_table_that_is_not_computable():
    table = pd.DataFrame(
        {
            "covariate": ["fall_z", "fall_z"],
            "sample": ["all", "matched"],
            "smd": [np.nan, np.nan],
            "abs_smd": [np.nan, np.nan],
            "note": ["no PL students", "no PL students"],
        }
    )
    fig = figures.love_plot(table)
    assert fig.get_label() == "Balance not computable: no PL students."
    _drawn(fig)


@pytest.mark.parametrize("draw", ["breakout", "forest", "comparison"])
def test_figures_never_warn_on_missing_numbers(draw, recwarn):
    if draw == "breakout":
        fig = figures.breakout_plot(_breakouts(), _pooled(None))
    elif draw == "forest":
        [fig] = figures.forest_plots(_schools(), _pooled(None))
    else:
        fig = figures.comparison_plot(
            _breakouts().assign(analysis="main", scope="pooled"), "analysis", "specification"
        )
    _drawn(fig)
    assert not [w for w in recwarn if issubclass(w.category, RuntimeWarning)]
