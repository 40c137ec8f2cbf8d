"""The report's growth-against-NWEA-norms section: its counts go through the one disclosure
solve (a count under min_n hidden with its share and mean; a count equal to the pooled one
rounded with it), the absent-fields wording, and the growth window in the report's text."""

from __future__ import annotations

import re

import attacker
import pandas as pd
import pytest
from test_report_disclosure import SCHOOLS, render_report, write_inputs

from pl_eval import io
from pl_eval.estimation.growth_norms import NO_FIELDS


@pytest.fixture(autouse=True)
def _figures_undrawn():
    """The growth section has no figure, and the others are test_report_disclosure's, on its
    cohort: these reports are read for their text and tables, so none is drawn."""
    with attacker.figures_undrawn():
        yield


def growth_table(n: dict[tuple[str, str], int], window: str = "fall_to_spring") -> pd.DataFrame:
    rows = [
        {"subject": "math", "sample": s, "arm": a, "n_students": v,
         "share_met": 0.6 if a == "treated" else 0.4, "mean_cgp": 55.0 if a == "treated" else 45.0,
         "window": window, "note": ""}
        for (s, a), v in n.items()
    ]  # fmt: skip
    return pd.DataFrame(rows)


def render(tmp_path, table: pd.DataFrame, schools=SCHOOLS):
    folder = tmp_path / "inputs"
    folder.mkdir()
    inputs = write_inputs(folder, variants=False, schools=schools)
    io.write_csv(table, folder / "growth_norms.csv")
    out = render_report(inputs | {"growth_norms": folder / "growth_norms.csv"}, tmp_path / "out")
    html = (out / "report.html").read_text()
    return html, out


def section(html: str) -> str:
    return html[html.index('<section id="growth-norms">') :].split("</section>")[0]


def test_counts_are_suppressed_through_the_one_solve(tmp_path):
    # pooled matched PL students 165, paired PL students 170 (test_report_disclosure)
    table = growth_table({("matched", "treated"): 165, ("matched", "comparison"): 300,
                          ("all", "treated"): 170, ("all", "comparison"): 7})  # fmt: skip
    html, out = render(tmp_path, table)
    part = section(html)
    assert "Growth against NWEA norms, as schools read it" in part
    assert "not the effect estimate" in part and "NWEA&#39;s own projections" in part
    assert "fall to spring" in part
    shown = pd.read_csv(out / "tables" / "growth_norms.csv").set_index(["sample", "arm"])
    assert shown.loc[("all", "comparison"), ["n_students", "share_met", "mean_cgp"]].isna().all()
    assert shown.loc[("matched", "treated"), "n_students"] == 165
    assert shown.loc[("matched", "treated"), "share_met"] == 0.6
    assert "60.0%" in part and "55.0" in part
    log = pd.read_csv(out / "suppression_log.csv")
    hidden = log[log["table"] == "growth_norms"]
    assert set(hidden["row"]) == {"math / all / comparison"}
    assert set(hidden["column"]) == {"n_students", "share_met", "mean_cgp"}


def test_a_count_equal_to_the_pooled_count_is_rounded_with_it(tmp_path):
    # the only charter school is tiny: the pooled counts are rounded to 5 to protect it
    # (test_report_disclosure), and the growth table's matched PL count is the same cell
    schools = [SCHOOLS[0], SCHOOLS[3], SCHOOLS[4]]
    n_t = sum(s[3] for s in schools)
    table = growth_table({("matched", "treated"): n_t, ("matched", "comparison"): 150,
                          ("all", "treated"): 80, ("all", "comparison"): 160})  # fmt: skip
    html, out = render(tmp_path, table, schools)
    shown = pd.read_csv(out / "tables" / "growth_norms.csv", dtype=str).set_index(["sample", "arm"])
    rounded = shown.loc[("matched", "treated"), "n_students"]
    assert rounded == f"\u2248{5 * round(n_t / 5)}"  # shown as rounded: not exact
    assert shown.loc[("matched", "comparison"), "n_students"] == "150"
    assert f"\u2248{5 * round(n_t / 5)}" in section(html)


def test_no_growth_fields_is_said_in_words(tmp_path):
    table = growth_table({(s, a): 0 for s in ("matched", "all") for a in ("treated", "comparison")})
    html, out = render(tmp_path, table.assign(note=NO_FIELDS, share_met=None, mean_cgp=None))
    part = section(html)
    assert "the exports carry no NWEA growth fields" in part
    assert "growth-norms-table" not in part and "%" not in part
    assert not (out / "tables" / "growth_norms.csv").exists()


def test_the_window_is_in_the_report_text(tmp_path):
    table = growth_table({("matched", "treated"): 165, ("matched", "comparison"): 300,
                          ("all", "treated"): 170, ("all", "comparison"): 900},
                         window="fall_to_winter")  # fmt: skip
    config = (
        "report:\n  min_n: 10\nanalyses:\n  main: {}\npanel:\n  window: fall_to_winter\n"
        "school_years:\n  demo: 2022-2023\n"
    )
    folder = tmp_path / "inputs"
    folder.mkdir()
    inputs = write_inputs(folder, variants=False)
    io.write_csv(table, folder / "growth_norms.csv")
    io.write_text(config, inputs["config"])
    inputs |= {"growth_norms": folder / "growth_norms.csv", "cohort": "demo"}
    html = (render_report(inputs, tmp_path / "out") / "report.html").read_text()
    assert "Fall-to-winter trajectory" in html
    assert "Growth window: fall to winter 2022-2023." in html
    assert "scores from fall to winter 2022-2023" in html
    assert "FallToWinterMetProjectedGrowth" in section(html)
    assert re.search(r"<td>no fall test</td>", html)  # the exclusions in the window's words


@pytest.mark.parametrize("escape", ["<b>x</b>"])
def test_notes_are_escaped(tmp_path, escape):
    table = growth_table({("matched", "treated"): 165, ("matched", "comparison"): 300,
                          ("all", "treated"): 170, ("all", "comparison"): 0})  # fmt: skip
    table.loc[3, ["share_met", "mean_cgp", "note"]] = [None, None, escape]
    html, _ = render(tmp_path, table)
    assert escape not in html and "&lt;b&gt;x&lt;/b&gt;" in section(html)
