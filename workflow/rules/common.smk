# Shared helpers: names, paths, settings as params, and a cohort's raw inputs.
# Rules run the `pl-eval` command found on PATH: make run puts .venv/bin first, and
# `snakemake --use-conda` the rule's conda environment (workflow/envs/pl_eval.yaml).
import json
import math
import re
import shlex
from pathlib import Path

from pl_eval.config import SIMULATED_COHORTS, analysis_section
from pl_eval.ingest.layouts import ARCHIVE_SUFFIXES, SPREADSHEET_SUFFIXES
from pl_eval.io import unzipped_growth
from pl_eval.ingest.pipeline import READ_KEYS as INGEST_READ_KEYS
from pl_eval.matching import stratum_labels
from pl_eval.simulate.settings import SimulationSettings
from pl_eval.years import main_year, parse_analysis, year_analyses

# Subjects analysed; ingest sets other subjects aside with a reason.
SUBJECTS = ("math", "reading")

COHORTS = list(config["cohorts"])

# A simulated cohort that `school_years` does not list is analysed in the years simulated for
# it (by the simulate rule), the preset's three: the effective config lists them, so each rule
# and the report's provenance see them. Any other cohort not listed has one school year, or
# build_panel stops with one line asking for its years to be listed.
for _cohort in COHORTS:
    if _cohort in SIMULATED_COHORTS:
        config["school_years"].setdefault(_cohort, list(SimulationSettings.school_years))

# "main" and the sensitivity variants, in config order (config `analyses`).
ANALYSES = list(config["analyses"])

# The one-year, span and placebo analyses of each multi-year cohort (a list in config
# `school_years`), "<cohort>@<F>-<S>" and "<cohort>@placebo-<F>-<F+1>": main analysis only.
YEAR_ANALYSES = {c: year_analyses(c, config["school_years"].get(c)) for c in COHORTS}
YEAR_NAMES = [a.name for analyses in YEAR_ANALYSES.values() for a in analyses]

# Sections whose overrides change the panel itself: such a variant re-ingests its cohort.
PANEL_SECTIONS = ("ingest", "panel")

NAME = r"[A-Za-z0-9][A-Za-z0-9._-]*"


def one_of(names):
    """A wildcard constraint matching exactly these names (never anything, when empty)."""
    return "(?:" + ("|".join(re.escape(name) for name in names) or "(?!)") + ")"


# A cohort wildcard is a cohort name, "<name>~<analysis>" (that cohort re-ingested under the
# analysis's ingest and panel overrides) or one of a multi-year cohort's YEAR_NAMES.
wildcard_constraints:
    cohort=rf"(?:{NAME}(~{one_of(ANALYSES)})?|{one_of(YEAR_NAMES)})",
    analysis=one_of(ANALYSES),
    subject=one_of(SUBJECTS),


# A cohort wildcard other than a year analysis: the build_panel, match, estimate and
# combine_estimates rules' (a year analysis runs all four in its one year_analysis job).
NOT_YEAR_ANALYSIS = rf"{NAME}(?:~{one_of(ANALYSES)})?"


def processed(cohort, name):
    return f"data/processed/{cohort}/{name}"


def per_subject(name):
    """A year analysis's output ``name`` (with ``{subject}``), one path per subject, in order."""
    return expand(processed("{{cohort}}/main", name), subject=SUBJECTS)


def as_json(settings):
    """A config section as canonical JSON: a params value that changes only with the settings."""
    return json.dumps(settings, sort_keys=True)


def base_cohort(cohort):
    """The cohort a cohort wildcard names, without its ``~<analysis>`` or ``@<years>``."""
    return cohort.partition("~")[0].partition("@")[0]


def ingested(kind):
    """Input function: ingest's ``kind`` parquet a panel is built from: the cohort wildcard's
    own, or for a ``@`` analysis its cohort's (one ingest for every year)."""
    return lambda w: processed(
        base_cohort(w.cohort) if "@" in w.cohort else w.cohort, f"{kind}.parquet"
    )


def panel_years(wildcards):
    """Params function: build-panel's (and year-analysis's) school-year arguments: a ``@``
    analysis's fall and spring years (and --placebo), else the cohort's configured (main, last
    listed) year."""
    chosen = parse_analysis(wildcards.cohort)
    if chosen is not None:
        placebo = " --placebo" if chosen.placebo else ""
        return f"--school-year {chosen.fall} --spring-year {chosen.spring}{placebo}"
    year = main_year(config["school_years"].get(base_cohort(wildcards.cohort)))
    return f"--school-year {year}" if year else ""


def year_estimates(wildcards):
    """Input function: the main estimates of a multi-year cohort's ``@`` analyses (else none)."""
    analyses = YEAR_ANALYSES.get(wildcards.cohort, [])
    return [processed(f"{a.name}/main", "estimates.parquet") for a in analyses]


def cohort_analysis(cohort):
    """The analysis whose ingest and panel settings a cohort wildcard is processed with."""
    return cohort.partition("~")[2] or "main"


def settings(section):
    """Params function: a section's settings for the analysis the cohort wildcard carries."""
    return lambda wildcards: as_json(
        analysis_section(config, cohort_analysis(wildcards.cohort), section)
    )


def analysis_settings(section):
    """Params function: a section's settings for the ``analysis`` wildcard."""
    return lambda wildcards: as_json(analysis_section(config, wildcards.analysis, section))


def panel_cohort(cohort, analysis):
    """The cohort wildcard of the panel ``analysis`` runs on: the cohort's own, or the cohort
    re-ingested when the analysis overrides ingest or panel settings."""
    overrides = config["analyses"][analysis]
    return f"{cohort}~{analysis}" if any(s in overrides for s in PANEL_SECTIONS) else cohort


def match_analysis(analysis):
    """The analysis whose matched samples ``analysis`` estimates on: the first one with the
    same ingest, panel and match settings, so estimate-only variants reuse main's matches."""

    def key(name):
        return [analysis_section(config, name, s) for s in (*PANEL_SECTIONS, "match")]

    return next(name for name in ANALYSES if key(name) == key(analysis))


# Sensitivity analyses that match on their own: one sensitivity_analysis job each (match,
# estimate and combination of every subject). Main, and the analyses estimating on another's
# matches, run per-subject match and estimate jobs and combine_estimates.
SENSITIVITY_ANALYSES = [a for a in ANALYSES if a != "main" and match_analysis(a) == a]
NOT_SENSITIVITY_ANALYSIS = one_of([a for a in ANALYSES if a not in SENSITIVITY_ANALYSES])


def per_analysis_subject(name):
    """An analysis's output ``name`` (with ``{subject}``), one path per subject, in order."""
    return expand(processed("{{cohort}}/{{analysis}}", name), subject=SUBJECTS)


# A heavy job's memory, MB: a floor (interpreter and libraries) plus so many MB per MB of its
# inputs, from the one-year national cohort's peaks (benchmarks/results max_rss; inputs
# 1.9 GB of exports, 0.68 GB typed, 53 MB scores and rejects, 48 MB panel): read_exports
# 1.9 GB (1.7 before it typed on two threads), ingest 1.3, build_panel 1.3 (a subject at a
# time), match 0.7-0.8, estimate 0.3 (entropy weights keep every comparison student, so that
# sample is the panel's size: its sensitivity_analysis job 1.6), robustness 0.8, report 1.1.
# build_panel asks 1.37 GB, 6% over its peak (1.27-1.29 GB by /usr/bin/time -v, the cohort's
# panel and its variant's), so that a cohort's two panels run side by side under make run's
# cap (at 24 MB per MB they asked 1.6 GB each, and the variant's panel waited 8 s for the
# cohort's). These requests only schedule local runs (profiles/slurm sets its own): make run
# caps their sum (MEM_MB, Snakemake's --resources), so heavy jobs do not run side by side
# beyond it; a job asking more than the cap runs alone (Snakemake lowers its request to the
# cap). year_analysis, from the three-year national study (163 MB scores and rejects):
# 1.48-1.75 GB, its panel reading the measures of its window's rows only. It asks 1.77 GB, 1%
# over the largest (the 2021-2023 span), so that it runs beside a sensitivity analysis
# (0.97 GB), their sum of peaks 2.7 GB: at 38 MB per MB it asked the whole cap, at 10
# (1.93 GB) it still did not fit beside one, and either way the seven ran one after another
# with a core idle.
MEMORY = {
    "read_exports": (300, 0.9),
    "ingest": (300, 1.5),
    "build_panel": (300, 20),
    "year_analysis": (300, 9),
    "match": (300, 10),
    "match_stratum": (300, 10),
    "estimate": (300, 180),
    "robustness": (300, 8.5),
    "report": (900, 17),
}


def mem_mb(rule):
    """Resources function: ``rule``'s memory from its inputs' size (MEMORY), a .zip's as the
    files it holds (read_exports reads them)."""
    floor, per_input_mb = MEMORY[rule]
    return lambda wildcards, input: math.ceil(
        floor + per_input_mb * (input.size_mb + unzipped_growth(input) / 2**20)
    )


#: Priority of the ingest and panel jobs (an analysis has 0): before any analysis, a variant's
#: as well as the cohort's own. They are short and memory-heavy: when a variant's panel ranked
#: below the analyses, it waited behind the doubly_robust job (1.6 GB) under the memory cap,
#: and so did its analysis and the report (one-year national: 122 s wall; 116 s with this).
PANELS_FIRST = 2
#: Priority of a multi-year cohort's year_analysis jobs: next after the panels. Each needs
#: most of the memory cap, so two never run side by side; ranked with the analyses, they were
#: left to the end and ran one after another, a core idle (three-year national: 319 s wall).
#: Started first, one at a time, they leave room for the cohort's own analyses beside them.
YEARS_EARLY = 1
#: Priority of a sensitivity analysis, by how many comparison students its match keeps (the
#: job's length, from the one-year national cohort): entropy weights keep every one (29 s),
#: virtual comparison groups up to 51 per PL student (17 s), a propensity match a few (11 s).
#: Longest first, under the panels and year analyses: ranked alike, the doubly_robust job
#: started last, after the other analyses, and ran alone for 25 s, a core idle.
SENSITIVITY_FIRST = {"entropy": 0.5, "vcg": 0.25}


def sensitivity_priority(wildcards):
    """Priority function: a sensitivity analysis's rank (SENSITIVITY_FIRST; others 0)."""
    method = analysis_section(config, wildcards.analysis, "match").get("method")
    return SENSITIVITY_FIRST.get(method, 0)


def sensitivity_mem_mb(wildcards, input):
    """Resources function: a sensitivity_analysis job's memory, the larger of its match's and
    its estimate's; an entropy-weighted sample keeps the panel's every student (28 MB per MB
    of panel measured: 1.6 GB), any other matched sample a fraction (14: 1.0 GB)."""
    method = analysis_section(config, wildcards.analysis, "match").get("method")
    floor, per_input_mb = (300, 28) if method == "entropy" else (300, 14)
    return math.ceil(floor + per_input_mb * input.size_mb)


def match_strata(analysis):
    """The strata an analysis matches in separately, one job each (config match.strata)."""
    strata = analysis_section(config, analysis, "match").get("strata", [])
    return stratum_labels(strata) if strata else ()


def match_panel(wildcards):
    """Input function: the panel a match runs on, unless it merges per-stratum parts."""
    if match_strata(wildcards.analysis):
        return []
    return processed(panel_cohort(wildcards.cohort, wildcards.analysis), "panel.parquet")


def match_parts(wildcards):
    """Input function: the per-stratum match parts of a stratified match (else none)."""
    return [
        processed(f"{wildcards.cohort}/{wildcards.analysis}", f"match_parts/{wildcards.subject}/{s}")
        for s in match_strata(wildcards.analysis)
    ]


def match_source(wildcards, input):
    """The match command's input arguments: the per-stratum parts, or the panel."""
    if input.parts:
        return "--parts " + " ".join(shlex.quote(p) for p in input.parts)
    return f"--panel {shlex.quote(input.panel)}"


def simulated_years(wildcards) -> str:
    """``--school-years`` with the year or years school_years lists for the simulated cohort;
    empty for a cohort not listed (the preset's three years)."""
    years = config["school_years"].get(wildcards.cohort)
    if years is None:
        return ""
    return "--school-years " + " ".join([years] if isinstance(years, str) else years)


def raw_inputs(wildcards):
    """The cohort's exports and school frame; simulated cohorts come from the simulate rule."""
    cohort = base_cohort(wildcards.cohort)
    raw = Path("data/raw") / cohort
    if cohort in SIMULATED_COHORTS:
        return {"exports": str(raw / "exports"), "schools": str(raw / "schools.csv")}
    # Workbooks are inputs too: ingest lists them as unread (with how to export CSV), so
    # adding or converting one re-runs it; so are archives (a .zip's exports are read).
    readable = (".csv", ".txt", *SPREADSHEET_SUFFIXES, *ARCHIVE_SUFFIXES)
    exports = sorted(
        str(p)
        for p in raw.rglob("*")
        if p.is_file() and p.suffix.lower() in readable and p.name != "schools.csv"
    )
    return {"exports": exports, "schools": str(raw / "schools.csv")}


def read_cohort(cohort):
    """The cohort wildcard whose read_exports an ingest job screens: the cohort's own, unless
    the analysis changes how exports are read (ingest column_aliases or district_name), when
    it is the first analysis reading them alike, so a cohort is read once per way of reading."""

    def key(name):
        ingest = analysis_section(config, name, "ingest")
        return [ingest.get(k) for k in INGEST_READ_KEYS]

    base, analysis = base_cohort(cohort), cohort_analysis(cohort)
    if key(analysis) == key("main"):  # whatever the order of the analyses in the config
        return base
    return f"{base}~{next(name for name in ANALYSES if key(name) == key(analysis))}"


def read_settings(wildcards):
    """Params function: the ingest settings that change how exports are read (the others
    apply when screening, so changing them does not re-read the exports)."""
    ingest = analysis_section(config, cohort_analysis(wildcards.cohort), "ingest")
    return as_json({k: ingest[k] for k in INGEST_READ_KEYS if k in ingest})


def read_exports_input(part):
    """Input function: one file of the read_exports folder an ingest job screens."""
    name = {"files": "files.json"}.get(part, f"{part}.arrow")
    return lambda w: processed(read_cohort(w.cohort), f"read_exports/{name}")


def matched_input(kind):
    """Input function: the ``kind`` parquet (matched, pairs) an analysis estimates on."""
    return lambda w: processed(
        f"{w.cohort}/{match_analysis(w.analysis)}", f"{kind}_{w.subject}.parquet"
    )
