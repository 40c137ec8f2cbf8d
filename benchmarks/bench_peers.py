"""Ours against the R packages evaluators would otherwise use (issue 15, item 5): MatchIt's
nearest-neighbour match and lme4's random-intercept model, on the same data, as ratios.

Each comparison runs where ``Rscript`` and its R package are installed; one that cannot prints
one line saying what is missing (R is no dependency of pl_eval; on Debian, ``apt-get install
r-base-core r-cran-lme4 r-cran-matchit``), and with neither it passes at once. Where one can
run, the national cohort (``--quick``: demo) runs through the workflow's main analysis once
(untimed) for its panel and main matched samples, of its last school year alone (the main
analysis of the three-year study: the same panel, without the earlier years' analyses);
``--processed DIR`` uses a processed cohort folder instead (``data/processed/national`` after
``make run COHORT=national``). Each subject's rows are then written to CSV (untimed) and
timed, each in a fresh process, R reading the CSV before its clock starts and ours the same
rows from Parquet:

- match: ``pl_eval.matching.match_cohort`` under config ``match`` (logistic propensity on the
  match covariates, exact strata, 5:1 nearest neighbour on the logit with replacement, caliper
  0.2 SD of the logit and the covariate calipers, largest first) against MatchIt on the
  subject's complete rows: the logistic model (``glm``) and ``matchit(method = "nearest",
  distance = <its logit>, exact =, caliper = c(0.2, fall_z = 0.1, frl_pct = 0.2) in SDs over
  the complete rows, ratio = 5, replace = TRUE, m.order = "largest")``, both timed. That is
  ``matchit(distance = "glm", link = "linear.logit", std.caliper = TRUE)`` in two steps,
  because Debian's r-cran-matchit 4.5.1 stops on an exact stratum without a treated student
  ("number of columns of matrices must match", in matchit2nearest), which the national panel
  has: the match is given the strata that hold a treated student (the others' students could
  match no one). The check column sets the treated students R matched beside ours;
- random intercepts: ``estimate_effect(model="mixed")`` as the random_intercepts analysis fits
  its pooled effect (one school-intercept variance per arm, REML, match weights) against
  ``lme4::lmer(spring_z ~ treated + covariates + (0 + t1 | school) + (0 + t0 | school),
  weights = weight, REML = TRUE)`` on the matched sample; the check column sets the two
  effects side by side.

With Debian's MatchIt 4.5.1 (its nearest-neighbour bug, above) the timing is the work
MatchIt does, not a check of our pairs (ours reproduce MatchIt 4.7.2's, tested on its
output): the version is printed with a note. Timings on a shared machine: the load average
is printed beside them.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import warnings
from pathlib import Path

import yaml
from bench_scaling import YEARS, Size, prepare, run
from bench_workflow import ROOT, ensure_cohort, load
from measure import measure, print_rows

CONFIG = yaml.safe_load((ROOT / "config" / "config.yaml").read_text())
PACKAGES = ("MatchIt", "lme4")
SUBJECTS = ("math", "reading")
#: R code timing one call on data read before its clock starts; prints "@@R@@ seconds".
R_MATCH = """
suppressPackageStartupMessages(library(MatchIt))
d <- read.csv({csv!r}, stringsAsFactors = TRUE)
d <- d[complete.cases(d[, c("treated", {covariates}, {exact})]), ]
start <- proc.time()[["elapsed"]]
# MatchIt's own steps, the propensity model over every complete row and calipers in SDs over
# them, then its nearest-neighbour match given that distance, on the exact strata holding a
# treated student: Debian's MatchIt 4.5.1 stops at a stratum without one ("number of columns
# of matrices must match", in matchit2nearest's rbind), whose students could match no one.
fit <- glm(treated ~ {formula}, data = d, family = binomial())
d$.logit <- predict(fit, type = "link")
widths <- c({calipers})
named <- names(widths)[names(widths) != ""]
widths <- widths * c(sd(d$.logit), vapply(named, function(v) sd(d[[v]]), numeric(1)))
key <- interaction(d[, c({exact})], drop = TRUE)
s <- d[ave(d$treated, key, FUN = max) == 1, ]
m <- matchit(treated ~ {formula}, data = s, method = "nearest", distance = s$.logit,
             exact = ~ {exact_formula}, caliper = widths, std.caliper = FALSE,
             ratio = {ratio}, replace = {replace}, m.order = "{order}")
cat("@@R@@", proc.time()[["elapsed"]] - start, sum(m$weights[s$treated == 1] > 0), "\\n")
"""
R_MIXED = """
suppressPackageStartupMessages(library(lme4))
d <- read.csv({csv!r}, stringsAsFactors = TRUE)
d <- d[d$weight > 0, ]
d$grade <- factor(d$grade)
d$t1 <- as.numeric(d$treated)
d$t0 <- 1 - d$t1
start <- proc.time()[["elapsed"]]
fit <- lmer(spring_z ~ treated + {formula} + (0 + t1 | school_id) + (0 + t0 | school_id),
            data = d, weights = weight, REML = TRUE)
cat("@@R@@", proc.time()[["elapsed"]] - start, fixef(fit)[["treated"]], "\\n")
"""
OURS_MATCH = """
from pl_eval import io, matching
data = io.read_parquet({panel!r})
config = matching.MatchConfig.from_config({settings!r})
"""
OURS_MIXED = """
import warnings
from pl_eval import io
from pl_eval.estimation import estimate_effect
m = io.read_parquet({matched!r})
m = m[m["weight"] > 0].assign(
    treated=m["treated"].astype(bool), grade=m["grade"].astype("string"),
    school_id=m["district"].astype("string") + "\\x1f" + m["school"].astype("string"))
warnings.simplefilter("ignore")
"""


def r_packages() -> set[str] | None:
    """The R packages installed here (None: no ``Rscript``)."""
    if shutil.which("Rscript") is None:
        return None
    listed = subprocess.run(
        ["Rscript", "-e", "cat(rownames(installed.packages()), sep = '\\n')"],
        capture_output=True, text=True, check=False,
    ).stdout.split()  # fmt: skip
    return set(listed)


def missing(installed: set[str] | None) -> dict[str, str]:
    """Why each of PACKAGES cannot be timed, given ``installed`` (:func:`r_packages`); the
    others' comparisons run (an evaluator with lme4 but no MatchIt still sees lme4's)."""
    if installed is None:
        return dict.fromkeys(PACKAGES, "Rscript not found")
    return {p: f"R package {p} not installed" for p in PACKAGES if p not in installed}


def r_version(package: str) -> str:
    done = subprocess.run(
        ["Rscript", "-e", f"cat(as.character(packageVersion('{package}')))"],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    return done.stdout.strip()


def run_r(code: str) -> tuple[float, str]:
    """Seconds R reports for the timed call, and what it printed after them."""
    with tempfile.NamedTemporaryFile("w", suffix=".R", delete=False) as script:
        script.write(code)
    try:
        done = subprocess.run(["Rscript", script.name], capture_output=True, text=True)
    finally:
        os.unlink(script.name)
    line = next((x for x in done.stdout.splitlines() if x.startswith("@@R@@")), None)
    if done.returncode != 0 or line is None:
        raise RuntimeError(f"Rscript failed:\n{done.stderr[-2000:]}")
    _, seconds, rest = line.split(maxsplit=2)
    return float(seconds), rest


def r_terms(columns: list[str]) -> str:
    return " + ".join(f"factor({c})" if c == "grade" else c for c in columns)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="demo cohort")
    parser.add_argument("--cores", type=int, default=2)
    parser.add_argument(
        "--processed", type=Path, help="a processed cohort folder to use (after make run)"
    )
    args, _ = parser.parse_known_args()  # make bench passes every script the same flags
    absent = missing(r_packages())
    for package, why in absent.items():
        print(f"skipped: R {package} comparison ({why})")
    peers = [p for p in PACKAGES if p not in absent]
    if not peers:
        return 0
    from pl_eval.config import analysis_section

    match = analysis_section(CONFIG, "main", "match")
    mixed = analysis_section(CONFIG, "random_intercepts", "estimate")
    cohort = "demo" if args.quick else "national"
    scratch = Path(tempfile.mkdtemp(prefix="pl_eval_bench_peers_"))
    try:
        processed = args.processed
        if processed is None:
            raw = ensure_cohort(cohort)
            workdir = scratch / "workflow"
            prepare(workdir, Size(cohort, raw.name, 1.0, YEARS[-1:]), cohort, {"main": {}})
            run(workdir, cohort, args.cores)
            processed = workdir / "data" / "processed" / cohort
        cohort = processed.name
        body = rows(processed, scratch, match, mixed, peers)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    print(f"ours against R on the {cohort} cohort ({load()} at the end):")
    print_rows(("case", "ours s", "R s", "R / ours", "rows", "check"), body)
    versions = {p: r_version(p) for p in peers}
    if versions.get("MatchIt") == "4.5.1":
        versions["MatchIt"] += " (Debian's 4.5.1 has a nearest-neighbour bug: timing only)"
    print(", ".join(f"{p} {v}" for p, v in versions.items()))
    return 0


def rows(
    processed: Path, scratch: Path, match: dict, mixed: dict, peers: list[str]
) -> list[tuple[str, ...]]:
    """One table row per subject and package of ``peers``: our seconds, R's, the ratio, and a
    check that both did the same work (treated students matched; the effect)."""
    body = []
    for subject in SUBJECTS:
        if "MatchIt" in peers:
            body.append(match_row(processed, scratch, match, subject))
        if "lme4" in peers:
            body.append(mixed_row(processed, scratch, mixed, subject))
    return body


def match_row(processed: Path, scratch: Path, match: dict, subject: str) -> tuple[str, ...]:
    """Our match of ``subject``'s panel rows against MatchIt's, and the treated each matched."""
    import pandas as pd

    covariates, exact = list(match["covariates"]), list(match["exact"])
    calipers = ", ".join(
        ["0.2" if match["caliper"] is None else str(match["caliper"])]
        + [f"{k} = {v}" for k, v in match["covariate_calipers"].items()]
    )
    panel = pd.read_parquet(processed / "panel.parquet")
    panel = panel[panel["subject"] == subject]
    csv = scratch / f"panel_{subject}.csv"
    panel.assign(treated=panel["treated"].astype(int)).to_csv(csv, index=False)
    ours = measure(
        f"match {subject}",
        f"matching.match_cohort(data, {subject!r}, config)",
        setup=OURS_MATCH.format(panel=str(processed / "panel.parquet"), settings=match),
    )
    theirs, matched_treated = run_r(
        R_MATCH.format(
            csv=str(csv), covariates=", ".join(map(repr, covariates)),
            exact=", ".join(map(repr, exact)), formula=" + ".join(covariates),
            exact_formula=" + ".join(exact), calipers=calipers, ratio=match["ratio"],
            replace="TRUE" if match["replace"] else "FALSE", order=match["order"],
        )
    )  # fmt: skip
    summary = json.loads((processed / "main" / f"match_summary_{subject}.json").read_text())
    return (f"match {subject} (MatchIt nearest)", f"{ours.seconds:.2f}", f"{theirs:.2f}",
            f"{theirs / ours.seconds:.2f}", f"{len(panel):,}",
            f"treated matched: R {int(matched_treated)}, "
            f"ours {summary['sample_sizes']['treated']['matched']}")  # fmt: skip


def mixed_row(processed: Path, scratch: Path, mixed: dict, subject: str) -> tuple[str, ...]:
    """Our random-intercept fit of ``subject``'s matched sample against lme4's, and the
    effect each estimated."""
    import pandas as pd

    from pl_eval.estimation import estimate_effect

    terms = [c for c in mixed["covariates"] if c != "treated"]
    matched_path = processed / "main" / f"matched_{subject}.parquet"
    matched = pd.read_parquet(matched_path)
    matched = matched.assign(
        treated=matched["treated"].astype(int),
        school_id=matched["district"].astype(str) + "|" + matched["school"].astype(str),
    )
    csv = scratch / f"matched_{subject}.csv"
    matched.to_csv(csv, index=False)
    ours = measure(
        f"mixed {subject}",
        "fit = estimate_effect(m, 'spring_z', 'treated', "
        f"{terms!r}, weights='weight', cluster='school_id', model='mixed')",
        setup=OURS_MIXED.format(matched=str(matched_path)),
    )
    theirs, effect = run_r(R_MIXED.format(csv=str(csv), formula=r_terms(terms)))
    kept = matched[matched["weight"] > 0].assign(
        treated=matched["treated"].astype(bool), grade=matched["grade"].astype("string")
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fit = estimate_effect(kept, "spring_z", "treated", terms, weights="weight",
                              cluster="school_id", model="mixed")  # fmt: skip
    return (f"random intercepts {subject} (lme4)", f"{ours.seconds:.2f}", f"{theirs:.2f}",
            f"{theirs / ours.seconds:.2f}", f"{len(matched):,}",
            f"effect: lme4 {float(effect):+.4f}, ours {fit.estimate:+.4f}")  # fmt: skip


if __name__ == "__main__":
    sys.exit(main())
