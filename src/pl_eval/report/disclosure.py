"""Disclosure control over every student count a report publishes, as one set of cells.

Each count shown anywhere (headline, breakouts, school table, sample flow, trajectory,
sensitivity, robustness tables, the school pages, the combined report) is a *cell*: one
quantity (math PL students in charter schools, say) that may be shown in several *places* (a
row of a table and one of its columns). The linear relations between cells are recorded: a
total is the sum of its parts (a sector is the sum of its schools, the pooled count the sum of
its sectors, of its years groups, of its grade bands; the students in the files are the sum of
the reasons they left or stayed). A relation is kept only where it holds on the true counts, so
it is exactly what a reader who knows how the tables are built could use.

Primary cells are those with 1..min_n-1 students. A primary cell is *determined* when its
unit vector lies in the row space of the relations restricted to the cells a reader does not
know exactly (hidden or rounded): the published cells then give its value by adding and
subtracting. :func:`solve` adds secondary suppression until no primary cell is determined:
it picks the first determined cell and, among the cells still known, the smallest one whose
hiding leaves it undetermined, preferring cells that can be hidden to totals that would be
rounded. School, exclusion and attrition rows are hidden whole; totals (pooled, breakout,
sensitivity, trajectory, sample-flow, confounding and Lee rows), whose estimates are the
report's answer, have their counts rounded to a multiple of ``round_to`` instead (when it is
above 1), estimates kept.

The relations are linear: a hidden cell's range (non-negative counts bound it) and ratios
shown beside counts (percentages of students in files, attrition rates) are not modelled;
percentages are hidden with any hidden or rounded count of their group instead.

Hand-written: the maintained tools for complementary suppression (tau-argus, sdcTable) are R
or Java programs working on hierarchical tables, and the PyPI ports found (pytauargus 0.6,
ssbkonf wrapping R) are too new or need R; ACRO only checks primary thresholds. Exact rational
elimination (``fractions``) on a few hundred cells is instant and leaves nothing to tolerance.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from fractions import Fraction

import pandas as pd

#: What a reader may do with a row in secondary suppression: hide it, or round its counts.
HIDE, ROUND = "hide", "round"
#: Reasons written to the suppression log.
PRIMARY_REASON = "fewer than {min_n} students"
SECONDARY_REASON = "complementary: a suppressed cell could be worked out from published ones"
ROUND_REASON = "rounded to a multiple of {to}: a suppressed cell could be worked out otherwise"


class Rounded(int):
    """A published count rounded to a multiple of ``to``; shown as "≈1,235" and written to
    CSVs as "≈1235", so a reader (and the attacker test) knows it is not exact."""

    to: int

    def __new__(cls, value: int, to: int) -> Rounded:
        out = super().__new__(cls, to * int((int(value) + to // 2) // to))
        out.to = to
        return out

    def __repr__(self) -> str:
        return f"\u2248{int(self)}"

    __str__ = __repr__

    def __format__(self, spec: str) -> str:
        return "\u2248" + format(int(self), spec)


def count_text(value) -> str:
    """A count with thousands separators, "≈" in front when it is rounded."""
    return format(value if isinstance(value, Rounded) else int(value), ",")


@dataclass(frozen=True)
class Place:
    """Where a cell is shown: a table, a row (named as the suppression log names it) and a
    count column."""

    table: str
    row: str
    column: str


@dataclass
class PublishedCells:
    """Every published count: cell -> value, cell -> its places, and the relations between
    cells (coefficients summing to zero over the true values).

    ``rows`` maps each (table, row) to its action in secondary suppression (:data:`HIDE` or
    :data:`ROUND`); ``frozen`` rows keep the decision an earlier solve made for them.
    """

    values: dict[str, int] = field(default_factory=dict)
    places: dict[str, list[Place]] = field(default_factory=dict)
    rows: dict[tuple[str, str], str] = field(default_factory=dict)
    relations: list[dict[str, int]] = field(default_factory=list)

    def add(
        self,
        table: str,
        frame: pd.DataFrame,
        *,
        key: Sequence[str],
        cells: dict[str, str],
        action: str | pd.Series = HIDE,
    ) -> None:
        """The count columns of ``frame`` as cells. ``cells`` maps each count column to its
        cell's name, a format string over the row ("main|{subject}|pooled|all|n_treated"): a
        quantity shown in several tables gets the same name from each, and is one cell when
        its counts agree (else each place is a cell of its own). ``key`` names the row as the
        log does. Missing counts are not published."""
        actions = action if isinstance(action, pd.Series) else pd.Series(action, frame.index)
        for i, row in frame.iterrows():
            name = row_name(row, key)
            self.rows.setdefault((table, name), actions[i])
            for column, naming in cells.items():
                value = row[column]
                if pd.isna(value):
                    continue
                cell = naming.format_map(row.to_dict())
                if cell in self.values and self.values[cell] != int(value):
                    cell = f"{cell}|{table}"
                self.values[cell] = int(value)
                self.places.setdefault(cell, []).append(Place(table, name, column))

    def relate(self, total: str, parts: Iterable[str]) -> None:
        """Record ``total = sum(parts)`` if every cell is published and it holds on the counts."""
        parts = [p for p in dict.fromkeys(parts) if p != total]
        if total not in self.values or not parts or any(p not in self.values for p in parts):
            return
        if self.values[total] == sum(self.values[p] for p in parts):
            self.relations.append({total: 1, **{p: -1 for p in parts}})

    def primary(self, min_n: int) -> list[str]:
        """Cells counting 1..min_n-1 students, in order."""
        return sorted(c for c, v in self.values.items() if 0 < v < min_n)


@dataclass(frozen=True)
class Decision:
    """What :func:`solve` decided: rows hidden (primary or secondary), rows whose counts are
    rounded, and the rounding base."""

    primary: frozenset[tuple[str, str]]
    hidden: frozenset[tuple[str, str]]
    rounded: frozenset[tuple[str, str]]
    round_to: int
    min_n: int
    rows: frozenset[tuple[str, str]] = frozenset()  # every row the decision was made over

    def mask(self, table: str, names: pd.Series, which: str = "hidden") -> pd.Series:
        """Per row of a table (named by ``names``): whether it is hidden (or rounded)."""
        rows = getattr(self, which)
        return names.map(lambda n: (table, n) in rows).astype(bool)

    def summary(self) -> str:
        return (
            f"{len(self.primary)} rows under {self.min_n} students, "
            f"{len(self.hidden) - len(self.primary)} hidden to protect them, "
            f"{len(self.rounded)} with counts rounded to {self.round_to}"
        )


def row_name(row: pd.Series, key: Sequence[str]) -> str:
    """A row's name in the log: its key values joined by " / "."""
    return " / ".join(str(row[k]) for k in key)


def solve(
    cells: PublishedCells,
    *,
    min_n: int,
    round_to: int = 1,
    frozen: Decision | None = None,
) -> Decision:
    """Hide every row showing a primary cell, then hide (or round) the places of further
    cells until no primary cell is determined by the published ones. A cell is known exactly
    while any row showing it is neither hidden nor rounded. Deterministic: ties break on names.

    ``frozen`` is an earlier decision over a subset of these rows (the combined report's
    share); its rows keep it, and cells shown in them are chosen last.
    """
    rows_of: dict[str, set[tuple[str, str]]] = {
        c: {(p.table, p.row) for p in ps} for c, ps in cells.places.items()
    }
    targets = cells.primary(min_n)
    primary = {r for c in targets for r in rows_of[c]}
    hidden, rounded = set(primary), set()
    if frozen is not None:
        hidden |= frozen.hidden & set(cells.rows)
        rounded |= (frozen.rounded & set(cells.rows)) - hidden
    fixed = frozen.rows if frozen is not None else frozenset()

    def unknown(extra: set[str] = frozenset()) -> set[str]:
        inexact = hidden | rounded
        return {c for c, rows in rows_of.items() if c in extra or rows <= inexact}

    def action(cell: str) -> str:
        rows = rows_of[cell] - hidden - rounded
        if round_to > 1 and all(cells.rows[r] == ROUND for r in rows):
            return ROUND
        return HIDE

    while True:
        found = _determined(cells.relations, unknown(), targets)
        if not found:
            break
        target = found[0]
        near = {c for r in cells.relations if target in r for c in r}
        known = set(rows_of) - unknown()
        candidates = sorted(
            known & _component(cells.relations, target),
            key=lambda c: (bool(rows_of[c] & fixed), action(c) == ROUND, c not in near,
                           cells.values[c], c),
        )  # fmt: skip
        if not candidates:  # cannot happen: with every linked cell unknown nothing is pinned
            raise RuntimeError(f"no cell left to protect cell {target}")
        # no single cell enough: round a total next to the target before hiding cells that
        # alone do not help (hiding schools one by one under a shown total protects nothing)
        fallback = next((c for c in candidates if action(c) == ROUND and c in near), candidates[0])
        chosen = next(
            (
                c
                for c in candidates
                if target not in _determined(cells.relations, unknown({c}), [target])
            ),
            fallback,
        )
        rows = rows_of[chosen] - hidden - rounded
        (rounded if action(chosen) == ROUND else hidden).update(rows)
    return Decision(
        primary=frozenset(primary),
        hidden=frozenset(hidden),
        rounded=frozenset(rounded - hidden),
        round_to=round_to,
        min_n=min_n,
        rows=frozenset(cells.rows),
    )


def _component(relations: list[dict[str, int]], cell: str) -> set[str]:
    """Cells connected to ``cell`` through relations."""
    seen, todo = {cell}, [cell]
    while todo:
        c = todo.pop()
        for r in relations:
            if c in r:
                for other in r:
                    if other not in seen:
                        seen.add(other)
                        todo.append(other)
    return seen


def determined(relations: list[dict[str, int]], unknown: set[str], cells: Iterable[str]):
    """Which of ``cells`` (unknown to the reader) the relations pin to one value, given every
    other cell: those whose unit vector lies in the row space of the relations restricted to
    the unknown cells (exact rational elimination)."""
    return _determined(relations, unknown, list(cells))


def _determined(relations, unknown: set[str], targets: Sequence[str]) -> list[str]:
    order = sorted(unknown)
    index = {c: i for i, c in enumerate(order)}
    rows = [
        {index[c]: Fraction(v) for c, v in r.items() if c in unknown and v}
        for r in relations
        if any(c in unknown for c in r)
    ]
    rows = [r for r in rows if r]
    pivots: dict[int, dict[int, Fraction]] = {}  # pivot column -> its reduced row
    for row in rows:
        for col, prow in pivots.items():
            if col in row:
                factor = row[col]
                for k, v in prow.items():
                    row[k] = row.get(k, Fraction(0)) - factor * v
                row = {k: v for k, v in row.items() if v}
        if not row:
            continue
        col = min(row)
        lead = row[col]
        row = {k: v / lead for k, v in row.items()}
        for other, prow in pivots.items():
            if col in prow:
                factor = prow[col]
                for k, v in row.items():
                    prow[k] = prow.get(k, Fraction(0)) - factor * v
                pivots[other] = {k: v for k, v in prow.items() if v}
        pivots[col] = row
    alone = {col for col, row in pivots.items() if len(row) == 1}
    return [t for t in targets if t in index and index[t] in alone]


#: Breakout scopes whose groups partition a subject's matched students.
BREAKOUT_SCOPES = ("sector", "years", "grade_band", "baseline_quintile")
COUNTS = ("n_treated", "n_comparison")
ARM_COUNT = {"treated": "n_treated", "comparison": "n_comparison"}


def add_estimates(
    cells: PublishedCells,
    estimates: pd.DataFrame,
    schools: pd.DataFrame,
    *,
    analysis: str = "main",
    tables: dict[str, str] | None = None,
    label: tuple[str, str] | None = None,
) -> None:
    """An analysis's estimate counts: pooled (headline, school-weighted), breakouts and
    schools, with the relations between them (pooled = sum of every breakout's groups = sum of
    schools; a sector = sum of its schools; a years group = sum of the schools that started PL
    that many years before).

    ``tables`` renames the tables these rows are shown in (None: not shown there); ``label``
    (column, value) puts a cohort or analysis name in front of each row's name, as the
    combined report and the sensitivity table name their rows. ``schools`` is the school frame
    (district_name, school_name, sector, pl_start_year).
    """
    tables = {
        "headline": "headline", "headline_school_weighted": "headline_school_weighted",
        "breakouts": "breakouts", "schools": "schools", **(tables or {}),
    }  # fmt: skip
    est = estimates.assign(**{label[0]: label[1]}) if label else estimates
    prefix = [label[0]] if label else []
    naming = {c: f"{analysis}|{{subject}}|{{scope}}|{{group}}|{c}" for c in COUNTS}
    scoped = {
        "headline": (est["scope"] == "pooled", ["subject"]),
        "headline_school_weighted": (est["scope"] == "pooled_schools", ["subject"]),
        "breakouts": (est["scope"].isin(BREAKOUT_SCOPES), ["subject", "scope", "group"]),
    }
    for table, (rows, key) in scoped.items():
        if tables.get(table):
            frame = est[rows].assign(scope=est["scope"].replace("pooled_schools", "pooled"))
            cells.add(tables[table], frame, key=[*prefix, *key], cells=naming, action=ROUND)
    school_rows = est[est["scope"] == "school"]
    if tables.get("schools"):
        cells.add(
            tables["schools"],
            school_rows.assign(school=school_rows["group"]),
            key=[*prefix, "subject", "school", "district"],
            cells={c: f"{analysis}|{{subject}}|school|{{group}}|{{district}}|{c}" for c in COUNTS},
            action=HIDE,
        )
    frame = schools.rename(columns={"district_name": "district", "school_name": "group"})
    facts = school_rows.merge(
        frame.reindex(columns=["district", "group", "sector", "pl_start_year"]),
        on=["district", "group"], how="left",
    )  # fmt: skip
    for subject, part in est.groupby("subject", sort=True):
        mine = facts[facts["subject"] == subject]
        for c in COUNTS:
            _relate_estimates(cells, part, mine, f"{analysis}|{subject}", c)


def _relate_estimates(
    cells: PublishedCells, part: pd.DataFrame, schools: pd.DataFrame, prefix: str, count: str
) -> None:
    """One subject's and count's relations: pooled = schools = each breakout's groups, a
    sector = its schools, a years group = the schools that started PL that many years ago
    (the fall year is not in the estimates, so each candidate year is tried; only relations
    that hold are kept)."""

    def school_cells(rows: pd.DataFrame) -> list[str]:
        return [
            f"{prefix}|school|{g}|{d}|{count}"
            for g, d in zip(rows["group"], rows["district"], strict=True)
        ]

    total = f"{prefix}|pooled|all|{count}"
    cells.relate(total, school_cells(schools))
    for scope in BREAKOUT_SCOPES:
        groups = part.loc[part["scope"] == scope, "group"]
        cells.relate(total, [f"{prefix}|{scope}|{g}|{count}" for g in groups])
    for sector, rows in schools.groupby("sector"):
        cells.relate(f"{prefix}|sector|{sector}|{count}", school_cells(rows))
    starts = pd.to_numeric(schools["pl_start_year"], errors="coerce")
    if starts.notna().any():
        for fall in range(int(starts.max()), int(starts.max()) + 4):
            years = (fall - starts + 1).clip(upper=3)
            for n, label in ((1, "1"), (2, "2"), (3, "3+")):
                cells.relate(f"{prefix}|years|{label}|{count}", school_cells(schools[years == n]))


def add_flow(cells: PublishedCells, flow: pd.DataFrame, exclusions: pd.DataFrame) -> None:
    """The sample flow (one row per subject, arm and stage) and the exclusion reasons, with
    in files = sum of reasons = valid + no valid test; paired students are the "paired"
    reason's and matched students the pooled estimate's."""
    count = flow["arm"].map(ARM_COUNT)
    named = {
        "in_files": "flow|" + flow["subject"] + "|" + flow["arm"] + "|in_files",
        "valid": "flow|" + flow["subject"] + "|" + flow["arm"] + "|valid",
        "paired": "exclusion|" + flow["subject"] + "|" + flow["arm"] + "|paired",
        "matched": "main|" + flow["subject"] + "|pooled|all|" + count,
    }
    cell = pd.Series("", index=flow.index)
    for stage, names in named.items():
        cell = cell.mask(flow["stage"] == stage, names)
    cells.add("sample_flow", flow.assign(_cell=cell), key=["subject", "arm", "stage"],
              cells={"n_students": "{_cell}"}, action=ROUND)  # fmt: skip
    cells.add(
        "exclusions", exclusions, key=["subject", "arm", "reason"],
        cells={"n_students": "exclusion|{subject}|{arm}|{reason}"}, action=HIDE,
    )  # fmt: skip
    for (subject, arm), rows in exclusions.groupby(["subject", "arm"], sort=True):
        total = f"flow|{subject}|{arm}|in_files"
        cells.relate(total, [f"exclusion|{subject}|{arm}|{r}" for r in rows["reason"]])
        cells.relate(total, [f"flow|{subject}|{arm}|valid",
                             f"exclusion|{subject}|{arm}|no_valid_test"])  # fmt: skip


def add_trajectory(cells: PublishedCells, trajectory: pd.DataFrame) -> None:
    """Students per subject, arm and season: the matched students where the counts agree."""
    cells.add(
        "trajectory", trajectory.assign(_count=trajectory["arm"].map(ARM_COUNT)),
        key=["subject", "arm", "season"],
        cells={"n_students": "main|{subject}|pooled|all|{_count}"}, action=ROUND,
    )  # fmt: skip


def add_sensitivity(cells: PublishedCells, stacked: pd.DataFrame, table: str, label: str):
    """Pooled and sector rows of several analyses (or cohorts) side by side: each one's
    pooled = sum of its sectors; the main analysis's rows are the main report's cells, and
    a variant's count equal to the main one's is taken to be the same students."""
    naming = {c: "{_analysis}|{subject}|{scope}|{group}|" + c for c in COUNTS}
    frame = stacked.assign(_analysis=stacked[label].astype(str))
    cells.add(table, frame, key=[label, "subject", "scope", "group"], cells=naming, action=ROUND)
    for (name, subject), rows in frame.groupby(["_analysis", "subject"], sort=True):
        sectors = rows.loc[rows["scope"] == "sector", "group"]
        for c in COUNTS:
            cells.relate(f"{name}|{subject}|pooled|all|{c}",
                         [f"{name}|{subject}|sector|{g}|{c}" for g in sectors])  # fmt: skip
            if name != "main":
                for scope, group in zip(rows["scope"], rows["group"], strict=True):
                    cells.relate(f"main|{subject}|{scope}|{group}|{c}",
                                 [f"{name}|{subject}|{scope}|{group}|{c}"])  # fmt: skip


def add_robustness(
    cells: PublishedCells,
    confounding: pd.DataFrame | None,
    attrition: pd.DataFrame | None,
    baseline: pd.DataFrame | None,
    lee: pd.DataFrame | None,
) -> None:
    """The robustness tables' counts: confounding and Lee rows count the estimates' students;
    attrition counts fall-tested and lost students (tested = lost + kept, per arm). Attrition
    rows are hidden rather than rounded: their rates would give the counts away."""
    main = {c: "main|{subject}|{scope}|{group}|" + c for c in COUNTS}
    if confounding is not None:
        cells.add("confounding", confounding, key=["subject", "scope", "group"], cells=main,
                  action=ROUND)  # fmt: skip
    if lee is not None:
        cells.add("lee_bounds", lee.assign(scope="pooled", group="all"), key=["subject"],
                  cells=main, action=ROUND)  # fmt: skip
    if attrition is not None:
        names = {c: "attrition|{subject}|" + c for c in
                 ("n_treated", "n_treated_lost", "n_comparison", "n_comparison_lost")}  # fmt: skip
        # hidden, not rounded: their rates (lost / tested) would give rounded counts away
        cells.add("attrition", attrition, key=["subject"], cells=names, action=HIDE)
    if baseline is not None:
        frame = baseline.assign(arm_count=baseline["arm"].map(ARM_COUNT))
        cells.add(
            "attrition_baseline", frame, key=["subject", "arm", "covariate"],
            cells={"n_lost": "attrition|{subject}|{arm_count}_lost",
                   "n_kept": "attrition|{subject}|{arm}|kept|{covariate}"}, action=HIDE,
        )  # fmt: skip
        for r in frame.itertuples():
            cells.relate(f"attrition|{r.subject}|{r.arm_count}",
                         [f"attrition|{r.subject}|{r.arm_count}_lost",
                          f"attrition|{r.subject}|{r.arm}|kept|{r.covariate}"])  # fmt: skip


def add_school_pages(
    cells: PublishedCells, school_trajectory: pd.DataFrame, trajectory: pd.DataFrame
) -> None:
    """The school pages' counts: each PL school's students per arm and season of its
    trajectory, the school table's cells where the counts agree (a page's students per arm are
    those cells already). A subject's PL students in a season are the sum of its schools'
    (each PL student is in one school); comparison students may serve several schools, so
    theirs add up to nothing shown. Rows are hidden, never rounded, as the school table's."""
    if school_trajectory.empty:
        return
    frame = school_trajectory.assign(n_column=school_trajectory["arm"].map(ARM_COUNT))
    names = []
    for r in frame.itertuples():
        base = f"main|{r.subject}|school|{r.school}|{r.district}|{r.n_column}"
        agrees = cells.values.get(base, r.n_students) == r.n_students
        names.append(base if agrees else f"{base}|school_pages|{r.season}")
    frame = frame.assign(_cell=names)
    cells.add(
        "school_pages", frame, key=["subject", "school", "district", "arm", "season"],
        cells={"n_students": "{_cell}"}, action=HIDE,
    )  # fmt: skip
    pooled = trajectory[trajectory["arm"] == "treated"]
    for r in pooled.itertuples():
        base = f"main|{r.subject}|pooled|all|n_treated"
        total = base if cells.values.get(base) == r.n_students else f"{base}|trajectory"
        mine = frame[
            (frame["subject"] == r.subject) & (frame["arm"] == "treated")
            & (frame["season"] == r.season)
        ]  # fmt: skip
        cells.relate(total, mine["_cell"])
