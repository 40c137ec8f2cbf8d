"""The attacker: recovers suppressed counts from a rendered report, or shows that none can be.

Reads only what a report publishes: the CSV tables beside it, the HTML page (its trajectory
table, and every "N students" in its text) and the school pages in ``schools/`` (each school's
students per arm, and per arm and season of its trajectory, and their "N students"). Each count
is a cell named by what it counts, so the same quantity shown in several tables is one cell
(when the counts agree); a cell shown as missing is hidden, one shown as "≈N" is rounded, and
both are unknown to the attacker. The attacker knows how the tables are built (a total is the
sum of its parts: pooled = schools = each breakout's groups, a sector = its schools, a years
group = the schools that started PL then, in files = the reasons students left or stayed, a
variant's counts = the main ones when it reuses the same students, a season's PL students =
its schools') and which of those relations hold, from the unsuppressed rendering of the same
inputs. A hidden cell is determined when its unit vector lies in the row
space of the relations restricted to the unknown cells; exact rational arithmetic, written
independently of the suppression code.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from fractions import Fraction
from html.parser import HTMLParser
from pathlib import Path
from unittest import mock

import pandas as pd

COUNT_COLUMNS = {
    "n_treated", "n_comparison", "n_students", "n_treated_lost", "n_comparison_lost",
    "n_lost", "n_kept",
}  # fmt: skip
ARM = {"treated": "n_treated", "comparison": "n_comparison", "PL": "n_treated"}


@dataclass
class Published:
    """Cells as read from one rendering: value (None hidden, ("≈", n) rounded, n exact)."""

    cells: dict[str, object] = field(default_factory=dict)
    schools: list[dict] = field(default_factory=list)  # subject, school, district, sector
    groups: dict[tuple[str, str], list[str]] = field(default_factory=dict)  # breakout groups
    flows: set[tuple[str, str]] = field(default_factory=set)
    reasons: dict[tuple[str, str], list[str]] = field(default_factory=dict)
    variants: dict[tuple[str, str], list[tuple[str, str]]] = field(default_factory=dict)
    kept: list[tuple[str, str, str]] = field(default_factory=list)
    text_counts: list[str] = field(default_factory=list)
    # (subject, season) -> the pooled PL trajectory cell and the schools' cells of that season
    seasons: dict[tuple[str, str], list[str]] = field(default_factory=dict)
    pooled_seasons: dict[tuple[str, str], str] = field(default_factory=dict)

    def put(self, name: str, raw) -> str:
        """A count shown anywhere is published: a shown count beats a hidden or rounded one
        of the same name; two different exact counts are two cells. Returns the cell's name."""
        value = _value(raw)
        old = self.cells.get(name, None)
        if isinstance(old, int) and isinstance(value, int) and old != value:
            name = f"{name}#{sum(k.startswith(name) for k in self.cells)}"
        elif isinstance(old, int) or (old is not None and value is None):
            return name
        self.cells[name] = value
        return name


def _value(raw):
    if raw is None or (isinstance(raw, float) and pd.isna(raw)):
        return None
    text = str(raw).strip().replace(",", "")
    if text in ("", "<NA>", "nan") or text.startswith("suppressed"):
        return None
    if text.startswith("\u2248"):
        return ("\u2248", int(text[1:]))
    return int(float(text))


def read_report(folder: Path, prefix: str = "", pages: bool = True) -> Published:
    """Every count of a rendered report (``report.html``, ``tables/*.csv`` and, with
    ``pages``, the school pages in ``schools/``)."""
    out = Published()
    tables = folder / "tables"

    def csv(name: str) -> pd.DataFrame | None:
        path = tables / f"{name}.csv"
        return pd.read_csv(path, dtype=str, keep_default_na=False) if path.exists() else None

    def est(subject, scope, group, column, analysis="main"):
        return f"{prefix}{analysis}|{subject}|{scope}|{group}|{column}"

    for name in ("headline", "headline_school_weighted", "lee_bounds"):
        if (t := csv(name)) is not None:
            for r in t.to_dict("records"):
                for c in ("n_treated", "n_comparison"):
                    out.put(est(r["subject"], "pooled", "all", c), r[c])
    for name in ("breakouts", "confounding"):
        if (t := csv(name)) is not None:
            for r in t.to_dict("records"):
                for c in ("n_treated", "n_comparison"):
                    out.put(est(r["subject"], r["scope"], r["group"], c), r[c])
                if name == "breakouts":
                    out.groups.setdefault((r["subject"], r["scope"]), []).append(r["group"])
    if (t := csv("schools")) is not None:
        for r in t.to_dict("records"):
            for c in ("n_treated", "n_comparison"):
                out.put(est(r["subject"], "school", f"{r['school']}|{r['district']}", c), r[c])
            out.schools.append(r)
    if (t := csv("years_exposure")) is not None:  # the main year's students by exposure
        for r in t.to_dict("records"):
            for c in ("n_treated", "n_comparison"):
                out.put(est(r["subject"], "exposure", r["group"], c), r[c])
            out.groups.setdefault((r["subject"], "exposure"), []).append(r["group"])
    for name in ("years", "years_placebo"):  # a multi-year cohort's other analyses
        if (t := csv(name)) is not None:
            for r in t.to_dict("records"):
                analysis = r["analysis"] if "@" in r["analysis"] else "main"
                for c in ("n_treated", "n_comparison"):
                    out.put(est(r["subject"], "pooled", "all", c, analysis), r[c])
    for name, label in (("sensitivity", "analysis"), ("cohorts", "cohort")):
        if (t := csv(name)) is not None:
            for r in t.to_dict("records"):
                analysis = r[label] if name == "sensitivity" else "main"
                pre = "" if name == "sensitivity" else f"{r['cohort']}/"
                for c in ("n_treated", "n_comparison"):
                    key = f"{pre}{analysis}|{r['subject']}|{r['scope']}|{r['group']}|{c}"
                    out.put(key, r[c])
                out.variants.setdefault((f"{pre}{analysis}", r["subject"]), []).append(
                    (r["scope"], r["group"])
                )
    if (t := csv("sample_flow")) is not None:
        for r in t.to_dict("records"):
            s, arm, stage = r["subject"], r["arm"], r["stage"]
            if stage == "matched":
                out.put(est(s, "pooled", "all", ARM[arm]), r["n_students"])
            elif stage == "paired":
                out.put(f"{prefix}exclusion|{s}|{arm}|paired", r["n_students"])
            else:
                out.put(f"{prefix}flow|{s}|{arm}|{stage}", r["n_students"])
            out.flows.add((s, arm))
    if (t := csv("exclusions")) is not None:
        for r in t.to_dict("records"):
            s, arm = r["subject"], r["arm"]
            out.put(f"{prefix}exclusion|{s}|{arm}|{r['reason']}", r["n_students"])
            out.reasons.setdefault((s, arm), []).append(r["reason"])
    if (t := csv("attrition")) is not None:
        for r in t.to_dict("records"):
            for c in ("n_treated", "n_treated_lost", "n_comparison", "n_comparison_lost"):
                out.put(f"{prefix}attrition|{r['subject']}|{c}", r[c])
    if (t := csv("attrition_baseline")) is not None:
        for r in t.to_dict("records"):
            s, arm, cov = r["subject"], r["arm"], r["covariate"]
            out.put(f"{prefix}attrition|{s}|{ARM[arm]}_lost", r["n_lost"])
            out.put(f"{prefix}kept|{s}|{arm}|{cov}", r["n_kept"])
            out.kept.append((s, arm, cov))
    html = (folder / "report.html").read_text()
    page = _Tables()
    page.feed(html)
    for row in page.tables.get("trajectory-table", [])[1:]:
        subject, group, season = row[:3]
        name = out.put(est(subject, "pooled", "all", ARM[group]), row[-1])
        if group == "PL":
            out.pooled_seasons[(subject, season)] = name
    text = re.sub(r"<[^>]+>", " ", html)
    out.text_counts = re.findall(COUNT_TEXT, text)
    for path in sorted((folder / "schools").glob("*.html")) if pages else ():
        read_school_page(path.read_text(), out, prefix)
    return out


COUNT_TEXT = r"(\u2248?\d[\d,]*) (?:PL |comparison )?students"
PAGE_ARM = {"this school": "n_treated", "comparison group": "n_comparison"}
PAGE_COUNTS = {"PL students (this school)": "n_treated", "Comparison students": "n_comparison"}


def read_school_page(html: str, out: Published, prefix: str = "") -> None:
    """A school page's counts: its students per arm (effects table) and per arm and season
    (trajectory table), as the school table's cells (one cell where the counts agree)."""
    page = _Tables()
    page.feed(html)
    school, district = page.article["data-school"], page.article["data-district"]

    def cell(subject, column):
        return f"{prefix}main|{subject}|school|{school}|{district}|{column}"

    effects = page.tables.get("school-effects", [])
    subjects = [h.lower() for h in effects[0][1:]] if effects else []
    for row in effects[1:]:
        if row[0] in PAGE_COUNTS:
            for subject, value in zip(subjects, row[1:], strict=True):
                out.put(cell(subject, PAGE_COUNTS[row[0]]), value)
    for row in page.tables.get("school-trajectory", [])[1:]:
        subject, group, rest = row[0], row[1], row[2:]
        for season in ("fall", "spring"):  # a season: mean and students, or "suppressed"
            shown, rest = (rest[1], rest[2:]) if not rest[0].startswith("suppressed") else (
                None, rest[1:])  # fmt: skip
            name = out.put(cell(subject, PAGE_ARM[group]), shown)
            if group == "this school":
                out.seasons.setdefault((subject, season), []).append(name)
    text = re.sub(r"<[^>]+>", " ", html)
    out.text_counts += re.findall(COUNT_TEXT, text)


class _Tables(HTMLParser):
    """Rows of cell texts of every table with an id (and a school page's names)."""

    def __init__(self):
        super().__init__()
        self.tables: dict[str, list[list[str]]] = {}
        self.article: dict[str, str] = {}
        self._id = None
        self._cell: list[str] | None = None

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "article" and "data-school" in attrs:
            self.article = attrs
        elif tag == "table" and attrs.get("id"):
            self._id = attrs["id"]
            self.tables[self._id] = []
        elif tag == "tr" and self._id:
            self.tables[self._id].append([])
        elif tag in ("td", "th") and self._id:
            self._cell = []

    def handle_endtag(self, tag):
        if tag in ("td", "th") and self._id and self._cell is not None:
            self.tables[self._id][-1].append("".join(self._cell).strip())
            self._cell = None
        elif tag == "table":
            self._id = None

    def handle_data(self, data):
        if self._cell is not None:
            self._cell.append(data)


def relations(truth: Published, start_years: dict[tuple[str, str], int]) -> list[dict]:
    """The relations a reader who knows how the tables are built would write down, kept
    where they hold on the true counts. ``start_years``: (district, school) -> PL start."""
    rels: list[dict] = []
    v = truth.cells

    def relate(total, parts):
        parts = [p for p in dict.fromkeys(parts) if p != total]
        if total in v and parts and all(p in v for p in parts):
            if v[total] == sum(v[p] for p in parts):
                rels.append({total: 1, **{p: -1 for p in parts}})

    subjects = {s for s, _ in truth.groups} | {r["subject"] for r in truth.schools}
    for s in sorted(subjects):
        mine = [r for r in truth.schools if r["subject"] == s]
        for c in ("n_treated", "n_comparison"):
            pooled = f"main|{s}|pooled|all|{c}"

            def school(r, c=c, s=s):
                return f"main|{s}|school|{r['school']}|{r['district']}|{c}"

            relate(pooled, [school(r) for r in mine])
            for (subj, scope), groups in truth.groups.items():
                if subj == s:
                    relate(pooled, [f"main|{s}|{scope}|{g}|{c}" for g in groups])
            for sector in {r["sector"] for r in mine}:
                relate(f"main|{s}|sector|{sector}|{c}",
                       [school(r) for r in mine if r["sector"] == sector])  # fmt: skip
            starts = [start_years.get((r["district"], r["school"])) for r in mine]
            known = [y for y in starts if y is not None]
            for fall in range(max(known), max(known) + 4) if known else ():
                for n, label in ((1, "1"), (2, "2"), (3, "3+")):
                    members = [r for r, y in zip(mine, starts, strict=True)
                               if y is not None and min(fall - y + 1, 3) == n]  # fmt: skip
                    relate(f"main|{s}|years|{label}|{c}", [school(r) for r in members])
    for (name, s), rows in truth.variants.items():
        for c in ("n_treated", "n_comparison"):
            sectors = [f"{name}|{s}|sector|{g}|{c}" for scope, g in rows if scope == "sector"]
            relate(f"{name}|{s}|pooled|all|{c}", sectors)
            for scope, g in rows:
                relate(f"main|{s}|{scope}|{g}|{c}", [f"{name}|{s}|{scope}|{g}|{c}"])
    for s, arm in sorted(truth.flows):
        total = f"flow|{s}|{arm}|in_files"
        relate(total, [f"exclusion|{s}|{arm}|{r}" for r in truth.reasons.get((s, arm), [])])
        relate(total, [f"flow|{s}|{arm}|valid", f"exclusion|{s}|{arm}|no_valid_test"])
    for (s, season), schools in sorted(truth.seasons.items()):
        if (s, season) in truth.pooled_seasons:  # each PL student is in one school
            relate(truth.pooled_seasons[(s, season)], schools)
    for s, arm, cov in truth.kept:
        relate(f"attrition|{s}|{ARM[arm]}", [f"attrition|{s}|{ARM[arm]}_lost",
                                              f"kept|{s}|{arm}|{cov}"])  # fmt: skip
    return rels


def recovered(shown: Published, truth: Published, rels: list[dict], min_n: int) -> dict:
    """Suppressed cells under ``min_n`` that the published cells determine: name -> value."""
    unknown = sorted(c for c, value in shown.cells.items() if not isinstance(value, int))
    targets = [
        c for c in unknown
        if shown.cells[c] is None and isinstance(truth.cells.get(c), int)
        and 0 < truth.cells[c] < min_n
    ]  # fmt: skip
    rows = [[Fraction(r.get(c, 0)) for c in unknown] for r in rels if set(r) & set(unknown)]
    base = _rank(rows)
    out = {}
    for t in targets:
        unit = [Fraction(int(c == t)) for c in unknown]
        if _rank([*rows, unit]) == base:
            out[t] = truth.cells[t]
    return out


def _rank(rows: list[list[Fraction]]) -> int:
    rows = [list(r) for r in rows]
    rank, col = 0, 0
    width = len(rows[0]) if rows else 0
    while rank < len(rows) and col < width:
        pivot = next((i for i in range(rank, len(rows)) if rows[i][col] != 0), None)
        if pivot is None:
            col += 1
            continue
        rows[rank], rows[pivot] = rows[pivot], rows[rank]
        for i in range(rank + 1, len(rows)):
            if rows[i][col] != 0:
                f = rows[i][col] / rows[rank][col]
                rows[i] = [a - f * b for a, b in zip(rows[i], rows[rank], strict=True)]
        rank += 1
        col += 1
    return rank


@contextmanager
def figures_undrawn() -> Iterator[None]:
    """Reports rendered in this block build their figures (captions and alt text, which the
    page shows) but never draw them: no PNG or SVG files, and empty images in the pages.

    For tests that read a report's counts, text or links, the attacker's among them: none
    looks at an image, and drawing is most of a render's CPU (the demo's report and school
    pages took 54 CPU s with figures and 10 s without, the same tables and pages but for the
    images)."""
    import matplotlib.pyplot as plt

    from pl_eval import io
    from pl_eval.report import render

    with (
        mock.patch.object(io, "save_figure", lambda figure, path: plt.close(figure)),
        mock.patch.object(render, "_png_data_uri", lambda figure: "data:image/png;base64,"),
    ):
        yield


def render_cohort(root: Path, cohort: str, out: Path, settings: dict) -> Path:
    """A workflow run's report of ``cohort`` (under ``root``) rendered again with
    ``settings`` (min_n, round_counts_to) into ``out``: every table, analysis and section, and
    the school pages, with their figures undrawn (:func:`figures_undrawn`)."""
    from pl_eval import io, stages
    from pl_eval.years import year_analyses

    processed = root / "data/processed" / cohort
    main = processed / "main"
    config = io.read_yaml(root / "config/config.yaml")
    analyses = list(config.get("analyses") or {"main": {}})
    subjects = sorted(p.stem.removeprefix("balance_") for p in main.glob("balance_*.csv"))
    years = [a.name for a in year_analyses(cohort, config.get("school_years", {}).get(cohort))]
    with figures_undrawn():
        stages.report(
            estimates=main / "estimates.parquet", breakout_tests=main / "breakout_tests.csv",
            trajectory=main / "trajectory.csv", exclusions=processed / "exclusions.csv",
            schools=processed / "schools.parquet", subjects=subjects,
            balance=[main / f"balance_{s}.csv" for s in subjects],
            match_summary=[main / f"match_summary_{s}.json" for s in subjects],
            propensity=[main / f"propensity_{s}.parquet" for s in subjects],
            config=root / "config/config.yaml", html=out / "report.html", figures=out / "figures",
            tables=out / "tables", suppression_log=out / "suppression_log.csv", settings=settings,
            analyses=analyses,
            analysis_estimates=[processed / a / "estimates.parquet" for a in analyses],
            **{name: main / f"{name}.csv"
               for name in ("confounding", "attrition", "attrition_baseline", "lee_bounds")},
            school_trajectory=main / "school_trajectory.parquet", school_pages=out / "schools",
            year_analyses=years,
            year_estimates=[root / "data/processed" / y / "main/estimates.parquet" for y in years],
            cohort=cohort,
        )  # fmt: skip
    return out


def start_years(schools: pd.DataFrame) -> dict[tuple[str, str], int]:
    """(district, school) -> PL start year, from a school frame (public knowledge)."""
    rows = schools.dropna(subset=["pl_start_year"])
    return {
        (d, s): int(y)
        for d, s, y in zip(rows["district_name"], rows["school_name"], rows["pl_start_year"],
                           strict=True)
    }  # fmt: skip
