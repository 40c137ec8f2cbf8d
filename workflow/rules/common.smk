# Shared helpers: paths, settings as params, and a cohort's raw inputs.
# Rules run the `pl-eval` command found on PATH: make run puts .venv/bin first, and
# `snakemake --use-conda` the rule's conda environment (workflow/envs/pl_eval.yaml).
import json
from pathlib import Path

# Cohorts with these names are written by the simulate rule (their size).
SIMULATED_COHORTS = ("demo", "national")

# Subjects analysed; ingest sets other subjects aside with a reason.
SUBJECTS = ("math", "reading")

wildcard_constraints:
    cohort=r"[A-Za-z0-9][A-Za-z0-9._-]*",


def processed(cohort, name):
    return f"data/processed/{cohort}/{name}"


def as_json(settings):
    """A config section as canonical JSON: a params value that changes only with the settings."""
    return json.dumps(settings, sort_keys=True)


def raw_inputs(wildcards):
    """The cohort's exports and school frame; simulated cohorts come from the simulate rule."""
    raw = Path("data/raw") / wildcards.cohort
    if wildcards.cohort in SIMULATED_COHORTS:
        return {"exports": str(raw / "exports"), "schools": str(raw / "schools.csv")}
    exports = sorted(
        str(p)
        for p in raw.rglob("*")
        if p.is_file() and p.suffix.lower() in (".csv", ".txt") and p.name != "schools.csv"
    )
    return {"exports": exports, "schools": str(raw / "schools.csv")}


# Multi-year spans by name (config `spans`); their outputs live in data/processed/<name>/.
SPANS = {span["name"]: span for span in config["spans"]}


def span_input(side, kind):
    """Input function: ingest's ``kind`` parquet of the span's fall or spring cohort."""

    def path(wildcards):
        return processed(SPANS[wildcards.span][f"{side}_cohort"], f"{kind}.parquet")

    return path
