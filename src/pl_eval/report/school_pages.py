"""One page per PL school, for the school's own leaders (``reports/<cohort>/schools/``).

Each page shows, per subject, the school's effect against the comparison students matched to
it (95% interval and empirical-Bayes shrunken estimate, in SD and in percentile points), its
students' fall-to-spring mean national percentile against theirs, where its estimate sits among
the PL schools' estimates the report shows (the others named only with
``report.school_pages.name_others``), and what one school's estimate can and cannot tell.

Pages are built from the report's own suppressed tables, so they hide what the report hides;
every count they show is a cell of the report's one disclosure solve
(:func:`pl_eval.report.disclosure.add_school_pages`). A school whose results are hidden gets a
page saying why, with none of its numbers.

File names are slugs of the school's name (ASCII letters, digits and hyphens), made unique with
the district's name and then a number. Hand-written: python-slugify would add a transliteration
dependency (text-unidecode) for what Unicode decomposition does well enough for file names, and
uniqueness and reserved device names are ours to handle anyway.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import pandas as pd
from matplotlib.figure import Figure

from pl_eval.norms import percentile_points
from pl_eval.report import figures
from pl_eval.report.disclosure import PRIMARY_REASON
from pl_eval.report.suppression import Suppressed
from pl_eval.years import fall_year
from pl_eval.years import school_year as year_from_fall

#: Names Windows reserves for devices, whatever the extension: never a file's stem.
RESERVED = {"con", "prn", "aux", "nul"} | {f"{p}{i}" for p in ("com", "lpt") for i in range(10)}
SEASONS = {"fall": 0, "spring": 1}


@dataclass(frozen=True)
class SchoolLinks:
    """Where the school pages and the report are from each other, as relative URLs: the
    report's school table links to every page, and every page back to the report."""

    folder: str  # the pages' folder from the report's folder, e.g. "schools"
    report: str  # the report from the pages' folder, e.g. "../report.html"

    def page(self, stem: str) -> str:
        return f"{self.folder}/{stem}.html"


@dataclass(frozen=True)
class SchoolPage:
    """One school's page: its file stem, names and HTML (figures embedded)."""

    slug: str
    school: str
    district: str
    html: str
    hidden: bool  # no results shown in any subject


def slug(text: str) -> str:
    """A file stem for ``text``: accents dropped, lower case, runs of anything but letters and
    digits as one hyphen, at most 60 characters; "school" when nothing is left."""
    ascii_text = unicodedata.normalize("NFKD", str(text)).encode("ascii", "ignore").decode()
    out = re.sub(r"[^a-z0-9]+", "-", ascii_text.lower()).strip("-")[:60].strip("-") or "school"
    return f"{out}-school" if out in RESERVED else out


def slugs(schools: Sequence[tuple[str, str]]) -> dict[tuple[str, str], str]:
    """Unique file stems for (school, district) pairs: the school's slug; where two schools
    share one, school and district; then a number, in sorted order."""
    first = {key: slug(key[0]) for key in sorted(schools)}
    taken = pd.Series(first).value_counts()
    second = {k: s if taken[s] == 1 else slug(f"{k[0]} {k[1]}") for k, s in first.items()}
    out, seen = {}, set()
    for key, stem in second.items():
        name, n = stem, 1
        while name in seen:
            n += 1
            name = f"{stem}-{n}"
        seen.add(name)
        out[key] = name
    return out


def pl_schools(estimates: pd.DataFrame, frame: pd.DataFrame) -> list[tuple[str, str]]:
    """Every PL school as (school, district): those with an estimate row, and those the school
    frame gives a PL start year (a PL school none of whose students were analysed)."""
    rows = estimates[estimates["scope"] == "school"]
    found = set(zip(rows["group"], rows["district"], strict=True))
    if "pl_start_year" in frame:
        pl = frame[frame["pl_start_year"].notna()]
        found |= set(zip(pl["school_name"], pl["district_name"], strict=True))
    return sorted(found)


@dataclass(frozen=True)
class PagePlan:
    """One school's page before its figures are drawn: the template context without them and
    the rows each figure plots. Small, so the report stage can send it to a worker process
    that draws the page (:func:`draw_page`)."""

    slug: str
    school: str
    district: str
    context: dict
    paths: pd.DataFrame | None  # the trajectory figure's rows; None: nothing shown
    position: pd.DataFrame | None  # the shown PL schools the position figure places it among
    pooled: pd.Series
    name_others: bool

    @property
    def hidden(self) -> bool:
        """No results shown in any subject (the page says why, with no figures)."""
        return self.paths is None


def plan_school_pages(
    estimates: pd.DataFrame,
    frame: pd.DataFrame,
    schools: Suppressed,
    trajectory: Suppressed,
    pooled: pd.Series,
    *,
    subjects: Sequence[str],
    min_n: int,
    name_others: bool,
    links: SchoolLinks,
    school_year: str | None = None,
) -> list[PagePlan]:
    """Every PL school's page, to be drawn, from the report's suppressed school table
    (``schools``, with its hidden rows and log) and school trajectories (``trajectory``);
    ``pooled`` is the shown pooled estimate per subject; ``links`` say where the report is
    from the pages. A school the frame gives a PL start after ``school_year`` (the year
    analysed, when known) has a page saying so: its students were in neither group."""
    table = schools.table.assign(hidden=schools.hidden)
    table = table.assign(
        shrunken_percentile_points=percentile_points(
            table["shrunken_estimate"], at=table["comparison_percentile"]
        )
    )
    reasons = schools.log.drop_duplicates("row").set_index("row")["reason"]
    shown = table[~table["hidden"]]
    paths = trajectory.table.assign(hidden=trajectory.hidden)
    # each school's rows looked up by (subject, school, district): filtering the tables anew
    # for every school and subject cost more than the rest of the report's planning
    rows_of = _positions(table, ["subject", "group", "district"])
    paths_of = _positions(paths, ["subject", "school", "district"])
    shown_in = {s: shown[shown["subject"] == s] for s in subjects}
    n_shown = {s: int(shown_in[s]["estimate"].notna().sum()) for s in subjects}
    names = slugs(pl_schools(estimates, frame))
    later = _later_starts(frame, school_year)
    plans = []
    for (school, district), stem in names.items():
        blocks = []
        for subject in subjects:
            mine = table.iloc[rows_of.get((subject, school, district), [])]
            row = mine.iloc[0] if len(mine) else None
            status = "absent" if row is None else "hidden" if row["hidden"] else "shown"
            why = ""
            if status == "hidden":
                reason = reasons.get(f"{subject} / {school} / {district}", "")
                why = _why_hidden(subject, reason, min_n)
            seasons = paths.iloc[paths_of.get((subject, school, district), [])]
            seasons = seasons.sort_values(["arm", "season"], key=_order)
            blocks.append({
                "subject": subject, "status": status, "row": row, "why": why,
                "trajectory": seasons if status == "shown" else seasons.iloc[:0],
            })  # fmt: skip
        for block in blocks:
            block["rank"] = _rank(shown_in[block["subject"]], school, district)
        shown_blocks = [b for b in blocks if b["status"] == "shown"]
        path_rows = position = None
        if shown_blocks:
            path_rows = pd.concat([b["trajectory"] for b in shown_blocks])
            path_rows = path_rows.assign(
                mean_percentile=path_rows["mean_percentile"].where(~path_rows["hidden"])
            )
            position = shown[shown["subject"].isin([b["subject"] for b in shown_blocks])]
        context = {
            "title": f"{school}: effects of personalized learning",
            "main_class": "school",
            "school": school,
            "district": district,
            "report_href": links.report,
            "blocks": blocks,
            "min_n": min_n,
            "name_others": name_others,
            "school_year": school_year,
            "later_start": later.get((school, district)),
            "n_shown": dict(n_shown),
        }
        plans.append(
            PagePlan(stem, school, district, context, path_rows, position, pooled, name_others)
        )
    return plans


def _later_starts(frame: pd.DataFrame, school_year: str | None) -> dict[tuple[str, str], str]:
    """The school year each school of the frame that began PL after ``school_year`` began it,
    by (school, district): the panel counts its students as not yet PL, in neither group."""
    if school_year is None or "pl_start_year" not in frame:
        return {}
    start = pd.to_numeric(frame["pl_start_year"], errors="coerce")
    later = (start > fall_year(school_year)).fillna(False).to_numpy(bool)  # Int64, as ingest writes
    rows = zip(
        frame["school_name"][later], frame["district_name"][later], start[later], strict=True
    )
    return {(school, district): year_from_fall(int(year)) for school, district, year in rows}


def _positions(table: pd.DataFrame, key: list[str]) -> dict[tuple, list[int]]:
    """The positions of ``table``'s rows per value of ``key`` (a tuple), in the table's order:
    the rows a filter on that value finds, as ``table.iloc[positions]``. A dict, not groupby
    parts, which held ~20 MB more for the national cohort's 80-row tables."""
    out: dict[tuple, list[int]] = {}
    for i, value in enumerate(zip(*(table[c] for c in key), strict=True)):
        out.setdefault(value, []).append(i)
    return out


def draw_page(
    plan: PagePlan, *, render: Callable[[dict], str], png: Callable[[Figure], str]
) -> SchoolPage:
    """A planned page with its figures drawn: ``render`` turns the page's context into HTML
    and ``png`` a figure into a data URI (the report's template environment and embedding)."""
    figs = {}
    if plan.paths is not None:
        figs["trajectory"] = figures.trajectory_plot(
            plan.paths, labels=("This school", "Its comparison group")
        )
        figs["position"] = figures.position_plot(
            plan.position, plan.school, plan.district, plan.pooled, plan.name_others
        )
    drawn = {name: (png(fig), fig.get_label()) for name, fig in figs.items()}
    html = render({**plan.context, "figures": drawn})
    return SchoolPage(plan.slug, plan.school, plan.district, html, plan.hidden)


def _rank(shown: pd.DataFrame, school: str, district: str) -> tuple[int, int] | None:
    """How many of the other shown schools' estimates this school's is above, of how many
    (None without an estimate of its own, or without another to rank it among)."""
    known = shown[shown["estimate"].notna()]
    mine = (known["group"] == school) & (known["district"] == district)
    if not mine.any() or mine.all():
        return None
    others = known.loc[~mine, "estimate"].astype("float64")
    return int((others < float(known.loc[mine, "estimate"].iloc[0])).sum()), len(others)


def _why_hidden(subject: str, reason: str, min_n: int) -> str:
    """Why a school's results in a subject are not shown, as the suppression log says it."""
    if reason == PRIMARY_REASON.format(min_n=min_n):
        return (
            f"Its {subject} results are not shown: fewer than {min_n} of its students, or of "
            "the comparison students matched to them, were in the analysis, and results of so "
            "few students could identify them."
        )
    return (
        f"Its {subject} results are not shown: they are hidden so that the results of a "
        "school with very few students cannot be worked out from the report's totals."
    )


def _order(column: pd.Series) -> pd.Series:
    """Sort key: the school's own students before its comparison group, fall before spring."""
    if column.name == "arm":
        return column.map({"treated": 0, "comparison": 1})
    return column.map(SEASONS)
