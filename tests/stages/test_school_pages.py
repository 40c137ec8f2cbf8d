"""School pages (issue 14 section 4) on the attacker test's hand-made cohort.

Five PL schools (one with 3 PL students, hidden with the charter school that protects it), a
comparison school in the frame, and a PL school whose name is markup and a spreadsheet formula.
The report and its pages are rendered once (no PDF: the workflow test makes those).
"""

from __future__ import annotations

import gc
import re
import urllib.parse
from dataclasses import replace
from html.parser import HTMLParser
from pathlib import Path

import attacker
import numpy as np
import pandas as pd
import pytest
import test_report_disclosure as cohort
from pdf_layout import overflowing
from report_text import unfilled, words

from pl_eval import io, stages
from pl_eval.norms import percentile_points
from pl_eval.report import disclosure, figures, render, school_pages

HOSTILE = "<script>alert(1)</script> =cmd|' /C calc'!A0"
SCHOOLS = [*cohort.SCHOOLS, (HOSTILE, "district", 2014, 30, 60)]
START = {("D1", s[0]): s[2] for s in SCHOOLS}
MIN_N = cohort.MIN_N


def _school_trajectory(estimates: pd.DataFrame) -> pd.DataFrame:
    """Each school's students in fall and spring (its estimate's counts) and their means."""
    rows = []
    for r in estimates[estimates["scope"] == "school"].itertuples():
        for arm, n, gain in (("treated", r.n_treated, 6.0), ("comparison", r.n_comparison, 3.0)):
            for season, mean in (("fall", 40.0), ("spring", 40.0 + gain)):
                rows.append({
                    "subject": "math", "school": r.group, "district": r.district, "arm": arm,
                    "season": season, "mean_percentile": mean, "ci_low": mean - 3,
                    "ci_high": mean + 3, "n_students": n, "note": "",
                })  # fmt: skip
    return pd.DataFrame(rows)


def _inputs(folder: Path, schools=SCHOOLS) -> dict:
    inputs = cohort.write_inputs(folder, variants=False, schools=schools)
    est = io.read_parquet(inputs["estimates"])
    est.loc[est["scope"] == "school", "shrunken_estimate"] = 0.15
    io.write_parquet(est, inputs["estimates"])
    frame = io.read_parquet(inputs["schools"])
    comparison = {"district_name": "D1", "school_name": "Comparison Elementary",
                  "sector": "district", "pl_start_year": None}  # fmt: skip
    io.write_parquet(pd.concat([frame, pd.DataFrame([comparison])]), inputs["schools"])
    io.write_parquet(_school_trajectory(est), folder / "school_trajectory.parquet")
    return inputs | {"school_trajectory": folder / "school_trajectory.parquet"}


def _render(inputs: dict, out: Path, min_n: int = MIN_N, round_to: int = 5, **pages) -> Path:
    stages.report(
        **inputs, html=out / "report.html", figures=out / "figures", tables=out / "tables",
        suppression_log=out / "suppression_log.csv", school_pages=out / "schools",
        settings={"min_n": min_n, "round_counts_to": round_to, "school_pages": pages},
    )  # fmt: skip
    return out


@pytest.fixture(scope="module")
def inputs(tmp_path_factory) -> dict:
    return _inputs(tmp_path_factory.mktemp("inputs"))


@pytest.fixture(scope="module")
def shown(inputs, tmp_path_factory) -> Path:
    return _render(inputs, tmp_path_factory.mktemp("shown"))


@pytest.fixture(scope="module")
def truth(inputs, tmp_path_factory) -> Path:
    """The attacker's truth: nothing suppressed, and no figure drawn (it reads no image)."""
    with attacker.figures_undrawn():
        return _render(inputs, tmp_path_factory.mktemp("truth"), min_n=1, round_to=1)


class _Page(HTMLParser):
    """A school page's tags, text, alt texts and effects-table cells by row class."""

    def __init__(self):
        super().__init__()
        self.tags, self.text, self.alts, self.effects = [], [], [], {}
        self._row = None

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        self.tags.append(tag)
        if tag == "img":
            self.alts.append(attrs["alt"])
        elif tag == "tr" and attrs.get("class"):
            self._row = attrs["class"]
            self.effects[self._row] = []
        elif tag == "td" and self._row:
            self.effects[self._row].append("")

    def handle_endtag(self, tag):
        if tag == "tr":
            self._row = None

    def handle_data(self, data):
        self.text.append(data)
        if self._row and self.effects[self._row]:
            self.effects[self._row][-1] += data

    @classmethod
    def of(cls, path: Path) -> _Page:
        page = cls()
        page.feed(path.read_text())
        return page


def _page(report: Path, school: str) -> Path:
    return report / "schools" / f"{school_pages.slug(school)}.html"


def test_every_pl_school_and_only_pl_schools_has_a_page_with_a_safe_name(shown):
    names = sorted(p.name for p in (shown / "schools").iterdir())
    expected = [f"{school_pages.slug(s[0])}.html" for s in SCHOOLS]
    assert names == sorted(expected)
    assert "comparison-elementary.html" not in names
    assert "script-alert-1-script-cmd-c-calc-a0.html" in names  # letters, digits, hyphens
    assert all(re.fullmatch(r"[a-z0-9-]+\.html", n) for n in names)


def test_a_school_s_rows_are_found_by_subject_school_and_district():
    # plan_school_pages looks each school's rows up by key rather than filtering the tables:
    # the rows at a key's positions are the rows a filter finds, in the table's order and with
    # its index; a school named in two districts gets each district's rows alone.
    table = pd.DataFrame({
        "subject": ["math", "reading", "math", "math", "math"],
        "group": ["Oak", "Oak", "Elm", "Oak", "Oak"],
        "district": ["D1", "D1", "D1", "D2", "D1"],
        "estimate": [0.1, 0.2, 0.3, 0.4, 0.5],
    }, index=[10, 11, 12, 13, 14])  # fmt: skip
    positions = school_pages._positions(table, ["subject", "group", "district"])
    for key, rows in positions.items():
        wanted = table[(table["subject"] == key[0]) & (table["group"] == key[1])
                       & (table["district"] == key[2])]  # fmt: skip
        pd.testing.assert_frame_equal(table.iloc[rows], wanted)
    assert positions[("math", "Oak", "D1")] == [0, 4]
    assert positions[("math", "Oak", "D2")] == [3]
    assert ("reading", "Oak", "D2") not in positions
    nobody = table["subject"] == "science"
    pd.testing.assert_frame_equal(table.iloc[[]], table[nobody])  # a school without rows


def test_file_names_are_unique_slugs():
    stems = school_pages.slugs([
        ("Café Été", "D1"), ("cafe ete", "D2"), ("CON", "D1"), ("Oak", "D1"), ("Oak", "D2"),
        ("Oak D1", "D9"), ("", "D1"),
    ])  # fmt: skip
    assert stems == {
        ("", "D1"): "school", ("CON", "D1"): "con-school", ("Café Été", "D1"): "cafe-ete-d1",
        ("Oak", "D1"): "oak-d1", ("Oak", "D2"): "oak-d2", ("Oak D1", "D9"): "oak-d1-2",
        ("cafe ete", "D2"): "cafe-ete-d2",
    }  # fmt: skip


def test_a_hostile_school_name_is_escaped_on_its_page(shown):
    html = _page(shown, HOSTILE).read_text()
    assert "<script>" not in html and HOSTILE not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt; =cmd|&#39; /C calc&#39;!A0" in html
    page = _Page.of(_page(shown, HOSTILE))
    assert "script" not in page.tags
    assert HOSTILE in "".join(page.text)


def test_a_page_shows_the_school_tables_values(shown):
    table = pd.read_csv(shown / "tables/schools.csv").set_index("school")
    for school in ("Elm Charter", "Pine District", "Ash District"):
        row = table.loc[school]
        cells = {k: v[0] for k, v in _Page.of(_page(shown, school)).effects.items()}

        def sd(x):
            return f"{x:.2f}".replace("-", "\u2212")

        assert cells["n-treated"] == f"{int(row['n_treated']):,}"
        assert cells["n-comparison"] == f"{int(row['n_comparison']):,}"
        assert (
            cells["estimate"]
            == f"{sd(row['estimate'])} ({sd(row['ci_low'])} to {sd(row['ci_high'])})"
        )
        assert cells["shrunken"] == sd(row["shrunken_estimate"]) == "0.15"
        at = row["comparison_percentile"]
        assert cells["points"] == (
            f"{row['percentile_points']:.1f} ({row['percentile_ci_low']:.1f} to "
            f"{row['percentile_ci_high']:.1f})"
        )
        # the shrunken estimate in percentile points at the same comparison percentile (50)
        assert cells["shrunken-points"] == f"{percentile_points(0.15, at=at):.1f}" == "6.0"
        assert cells["mde"] == sd(row["mde"])


def test_a_hidden_school_gets_a_page_saying_why_and_no_numbers(shown):
    for school, why in (("Tiny Charter", "fewer than 10 of its students"),
                        ("Oak Charter", "hidden so that the results of a school")):  # fmt: skip
        page = _Page.of(_page(shown, school))
        text = " ".join("".join(page.text).split())
        assert why in text
        assert page.effects == {} and page.alts == []  # no table, no figure
        body = text.split("1. Effect against its comparison group")[1]
        numbers = re.findall(r"\d[\d.,]*", body.replace("2. What", ""))
        assert set(numbers) == {str(MIN_N)}, numbers  # the threshold only


def test_other_schools_are_not_named_unless_configured(shown):
    others = [s[0] for s in SCHOOLS]
    for path in (shown / "schools").iterdir():
        html = path.read_text()
        page = _Page.of(path)
        mine = re.search(r'data-school="([^"]*)"', html).group(1)
        text = "".join(page.text) + " ".join(page.alts)
        for other in others:
            if school_pages.slug(other) != path.stem:
                assert other not in text, (path.name, other)
        assert mine  # the page's own school is named
    # report.school_pages.name_others: true names them (the figure's labels and alt text)
    table = pd.read_csv(shown / "tables/schools.csv").rename(columns={"school": "group"})
    table = table[table["estimate"].notna()]
    pooled = pd.Series({"math": 0.1})
    for name_others in (True, False):
        fig = figures.position_plot(table, "Elm Charter", "D1", pooled, name_others)
        labels = [t.get_text() for t in fig.axes[0].get_yticklabels()]
        alt = fig.get_label()
        assert ("Pine District 0.20" in alt) == name_others
        assert ("Pine District" in labels) == name_others
        assert "Tiny Charter" not in alt + " ".join(labels)  # hidden: not among them
        assert "above 0 of the 3 other PL schools shown" in alt  # all at 0.20


def test_a_page_ranks_its_school_among_the_others_in_a_sentence(tmp_path):
    inputs = _inputs(tmp_path / "inputs")
    est = io.read_parquet(inputs["estimates"])
    planted = {"Elm Charter": 0.30, "Pine District": 0.10, "Ash District": -0.10, HOSTILE: 0.25}
    at = est["scope"].eq("school") & est["group"].isin(planted)
    values = est.loc[at, "group"].map(planted)
    est.loc[at, ["estimate", "ci_low", "ci_high"]] = np.c_[values, values - 0.1, values + 0.1]
    io.write_parquet(est, inputs["estimates"])
    out = _render(inputs, tmp_path / "out")
    # the four shown schools (Tiny and Oak Charter are suppressed): each is above those below it
    for school, above in (("Elm Charter", 3), ("Pine District", 1), ("Ash District", 0)):
        assert (
            f"Math: its estimate is above those of {above} of the 3 other PL schools the report "
            "shows. Ranks move with a year's luck more than estimates do."
        ) in words(_page(out, school))


def test_an_estimate_without_an_interval_reads_so_on_its_page_and_in_the_report(tmp_path):
    inputs = _inputs(tmp_path / "inputs")
    est = io.read_parquet(inputs["estimates"])
    pine = est["group"].eq("Pine District")  # e.g. too few comparison schools for an SE
    est.loc[pine, ["ci_low", "ci_high", "percentile_ci_low", "percentile_ci_high"]] = np.nan
    io.write_parquet(est, inputs["estimates"])
    out = _render(inputs, tmp_path / "out")
    page = _page(out, "Pine District")
    cells = {k: v[0] for k, v in _Page.of(page).effects.items()}
    assert cells["estimate"] == "0.20 (no interval)"
    assert cells["points"] == f"{percentile_points(0.2):.1f} (no interval)"
    assert "Math: no interval could be computed." in words(page)
    # the report's school table: a dash for the interval, not "— to —"
    # (students, comparison students, estimate, interval, shrunken, its interval, MDE)
    assert "Pine District D1 district 60 120 0.20 — 0.15 — 0.14" in words(out / "report.html")
    for shown_page in (out / "report.html", *(out / "schools").iterdir()):
        assert unfilled(shown_page) == [], shown_page.name
        assert "— to —" not in words(shown_page), shown_page.name


def test_a_school_that_began_pl_after_the_year_analysed_has_a_page_saying_so(tmp_path):
    # schools.csv lists next year's adopter: the panel counts its students as not yet PL
    inputs = _inputs(tmp_path / "inputs")
    frame = io.read_parquet(inputs["schools"])
    later = {"district_name": "D1", "school_name": "Birch Charter", "sector": "charter",
             "pl_start_year": 2016}  # fmt: skip
    frame = pd.concat([frame, pd.DataFrame([later])]).astype({"pl_start_year": "Int64"})
    io.write_parquet(frame, inputs["schools"])  # a nullable start year, as ingest writes it
    config = inputs["config"]
    config.write_text(config.read_text() + "school_years:\n  cohort: 2014-2015\n")
    out = _render(inputs | {"cohort": "cohort"}, tmp_path / "out")
    assert (
        "No results: this school began personalized learning in 2016-2017, after the school "
        "year analysed (2014-2015), so its students were in neither the PL nor the comparison "
        "group."
    ) in words(_page(out, "Birch Charter"))
    assert "none of its students were in the math analysis" not in words(
        _page(out, "Birch Charter")
    )
    # a school of the year analysed keeps its results
    assert "began personalized learning" not in words(_page(out, "Elm Charter"))


def test_a_lone_pl_school_is_not_ranked_against_no_others(tmp_path):
    inputs = _inputs(tmp_path / "inputs", schools=[("Elm Charter", "charter", 2014, 50, 100)])
    out = _render(inputs, tmp_path / "out")
    page = _page(out, "Elm Charter")
    text = words(page)  # with the figures' alt texts
    assert "Effect in SD of national scores" in text  # its results are shown
    assert "Ranks move" not in text and "of the 0" not in text
    assert "is the only PL school estimate shown" in text
    # the page's position plot has no legend entry for other schools, since there are none
    table = pd.read_csv(out / "tables/schools.csv").rename(columns={"school": "group"})
    fig = figures.position_plot(table, "Elm Charter", "D1", pd.Series({"math": 0.1}), False)
    legend = [t.get_text() for t in fig.legends[0].get_texts()]
    assert legend == ["this school (95% CI)", "this school, shrunken", "all PL students"]


def test_the_attacker_reading_report_and_pages_recovers_nothing(shown, truth):
    truth_cells = attacker.read_report(truth)
    read = attacker.read_report(shown)
    rels = attacker.relations(truth_cells, START)
    assert truth_cells.seasons  # the pages' seasons were read, with their relations
    assert attacker.recovered(read, truth_cells, rels, MIN_N) == {}
    values = {v if isinstance(v, int) else v[1] for v in read.cells.values() if v is not None}
    for text in read.text_counts:
        assert int(text.strip("\u2248").replace(",", "")) in values | {MIN_N}, text


def _hidden_by_report_but_shown(report: Path) -> list[str]:
    """Counts the report's own tables hide that a school page shows."""
    everything = attacker.read_report(report)
    tables = attacker.read_report(report, pages=False)
    return sorted(
        c for c, v in tables.cells.items() if v is None and everything.cells.get(c) is not None
    )


def test_no_page_shows_a_count_the_report_hides(shown, inputs, tmp_path, monkeypatch):
    assert _hidden_by_report_but_shown(shown) == []
    # pages built from the unsuppressed school table (as if they ignored the report's
    # decision) show the tiny school's and its protector's counts: the check catches them
    plan = school_pages.plan_school_pages

    def ignoring_suppression(estimates, frame, schools, *args, **kwargs):
        return plan(estimates, frame, render._school_table(estimates, frame, 1), *args, **kwargs)

    monkeypatch.setattr(school_pages, "plan_school_pages", ignoring_suppression)
    with attacker.figures_undrawn():
        leaked = _hidden_by_report_but_shown(_render(inputs, tmp_path / "leaky"))
    assert leaked == [
        f"main|math|school|{school}|D1|{count}"
        for school in ("Oak Charter", "Tiny Charter")
        for count in ("n_comparison", "n_treated")
    ]


def test_a_season_count_only_a_page_shows_is_protected_across_tables(tmp_path):
    # Ash District's fall has 8 PL students (4 without a fall percentile): a cell under 10
    # that only its page shows. The report's pooled fall count less the other schools' would
    # give it (each PL student is in one school), so the one solve must protect it too.
    inputs = _inputs(tmp_path)
    paths = io.read_parquet(inputs["school_trajectory"])
    ash = (paths["school"] == "Ash District") & (paths["arm"] == "treated")
    paths.loc[ash & (paths["season"] == "fall"), "n_students"] = 8
    pooled = pd.read_csv(inputs["trajectory"])
    pooled.loc[(pooled["arm"] == "treated") & (pooled["season"] == "fall"), "n_students"] -= 4
    loaded = render.ReportInputs(
        estimates=io.read_parquet(inputs["estimates"]), tests=pd.read_csv(inputs["breakout_tests"]),
        trajectory=pooled, exclusions=pd.read_csv(inputs["exclusions"]),
        balance={"math": pd.read_csv(inputs["balance"][0])},
        match_summaries={"math": io.read_json(inputs["match_summary"][0])},
        schools=io.read_parquet(inputs["schools"]), config={}, school_trajectory=paths,
    )  # fmt: skip
    cells = render.published_cells(loaded)
    cell = "main|math|school|Ash District|D1|n_treated|school_pages|fall"
    total = "main|math|pooled|all|n_treated|trajectory"
    assert cells.values[cell] == 8 and cells.values[total] == 195 - 4
    assert any(cell in r and total in r for r in cells.relations)
    decision = render.disclose(loaded, min_n=MIN_N, round_to=5)
    assert ("school_pages", "math / Ash District / D1 / treated / fall") in decision.primary
    inexact = decision.hidden | decision.rounded
    unknown = {
        c for c, places in cells.places.items() if all((p.table, p.row) in inexact for p in places)
    }
    assert disclosure.determined(cells.relations, unknown, [cell]) == []
    # without the pages' cells in the solve, the report's tables would give it away
    unprotected = render.disclose(replace(loaded, school_trajectory=None), min_n=MIN_N, round_to=5)
    inexact = (
        unprotected.hidden
        | unprotected.rounded
        | {("school_pages", "math / Ash District / D1 / treated / fall")}
    )
    unknown = {
        c for c, places in cells.places.items() if all((p.table, p.row) in inexact for p in places)
    }
    assert disclosure.determined(cells.relations, unknown, [cell]) == [cell]


class _Links(HTMLParser):
    """The href and text of every link inside the element with id ``within`` (None: all)."""

    def __init__(self, within: str | None):
        super().__init__()
        self.within, self.depth, self.links, self._href = within, 0, [], None

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if self.depth or attrs.get("id") == self.within:
            self.depth += 1
        if (self.depth or self.within is None) and tag == "a":
            self._href = attrs["href"]
            self.links.append([self._href, ""])

    def handle_endtag(self, tag):
        if tag == "a":
            self._href = None
        if self.depth:
            self.depth -= 1

    def handle_data(self, data):
        if self._href is not None:
            self.links[-1][1] += data

    @classmethod
    def of(cls, path: Path, within: str | None) -> list[tuple[str, str]]:
        parser = cls(within)
        parser.feed(path.read_text())
        return [tuple(link) for link in parser.links]


def _target(page: Path, href: str) -> Path:
    return (page.parent / urllib.parse.unquote(href)).resolve()


@pytest.mark.parametrize("folder", ["schools", "pages for/each school"])
def test_the_report_links_every_school_to_its_page_and_every_page_back(inputs, tmp_path, folder):
    report = tmp_path / "report.html"
    with attacker.figures_undrawn():  # links are read, no image
        stages.report(
            **inputs, html=report, figures=tmp_path / "figures", tables=tmp_path / "tables",
            suppression_log=tmp_path / "log.csv", school_pages=tmp_path / folder,
            settings={"min_n": MIN_N, "round_counts_to": 5},
        )  # fmt: skip
    links = _Links.of(report, "school-table")
    # one link per school row, hidden schools too (their page says why), named as in the row
    est = io.read_parquet(inputs["estimates"])
    assert sorted(text for _, text in links) == sorted(est.loc[est["scope"] == "school", "group"])
    for href, text in links:
        assert _target(report, href) == (tmp_path / folder / f"{school_pages.slug(text)}.html")
        back = [h for h, _ in _Links.of(_target(report, href), None)]
        assert any(_target(_target(report, href), h) == report.resolve() for h in back)
    assert HOSTILE in [text for _, text in links]  # the markup name is text, not markup


def test_a_school_name_longer_than_a_line_stays_on_the_page(tmp_path):
    # hyphenated names of a network's campuses, one "word" wider than an A4 line
    long = "Academy-of-Personalized-Learning-for-Science-Technology-Engineering-and-Mathematics"
    schools = [*cohort.SCHOOLS, (long * 2, "charter", 2014, 30, 60)]
    inputs = cohort.write_inputs(tmp_path / "inputs", variants=False, schools=schools)
    out = tmp_path / "out"
    stages.report(
        **inputs, html=out / "report.html", figures=out / "figures", tables=out / "tables",
        suppression_log=out / "log.csv", school_pages=out / "schools",
        settings={"min_n": MIN_N, "round_counts_to": 5},
    )  # fmt: skip
    page = (out / "schools" / f"{school_pages.slug(long * 2)}.html").read_text()
    assert long in page
    assert overflowing(page) == []
    assert overflowing((out / "report.html").read_text()) == []


def test_worker_processes_write_the_same_report_pdf_and_pages(inputs, tmp_path):
    # The report stage draws the school pages and renders the PDFs in worker processes (the
    # report rule's threads): every file, PDFs included, is the same as one process writes.
    def written(workers: int) -> dict[str, bytes]:
        out = tmp_path / f"workers_{workers}"
        stages.report(
            **inputs, html=out / "report.html", pdf=out / "report.pdf", figures=out / "figures",
            tables=out / "tables", suppression_log=out / "suppression_log.csv",
            school_pages=out / "schools", settings={"min_n": MIN_N}, workers=workers,
        )  # fmt: skip
        return {str(p.relative_to(out)): p.read_bytes() for p in out.rglob("*") if p.is_file()}

    alone, shared = written(1), written(2)
    pages = [name for name in alone if name.startswith("schools/")]
    assert len(pages) == 2 * len(SCHOOLS) and "report.pdf" in alone
    assert shared.keys() == alone.keys()
    assert [name for name in alone if shared[name] != alone[name]] == []


def test_report_workers_start_with_what_they_inherit_frozen():
    # Each worker freezes the objects it inherits from the server's imports (gc.freeze), so
    # that the full collections a school page's figures set off do not walk them every time;
    # the pool is usable as soon as it is made (its first worker starts in the background).
    with stages._render_pool(2) as pool:
        if pool is None:
            pytest.skip("no forkserver start method here")
        frozen = pool.submit(gc.get_freeze_count).result()
    assert frozen > 10_000  # pandas, matplotlib and WeasyPrint's modules, at least
