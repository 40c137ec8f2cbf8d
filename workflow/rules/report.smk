rule report:
    """The funder report: HTML page and its PDF, with figures, tables and the suppression log,
    and one page (HTML and PDF) per PL school, whose counts are suppressed with the report's."""
    input:
        estimates=processed("{cohort}/main", "estimates.parquet"),
        breakout_tests=processed("{cohort}/main", "breakout_tests.csv"),
        trajectory=processed("{cohort}/main", "trajectory.csv"),
        school_trajectory=processed("{cohort}/main", "school_trajectory.parquet"),
        exclusions=processed("{cohort}", "exclusions.csv"),
        schools=processed("{cohort}", "schools.parquet"),
        balance=expand(processed("{{cohort}}/main", "balance_{subject}.csv"), subject=SUBJECTS),
        propensity=expand(
            processed("{{cohort}}/main", "propensity_{subject}.parquet"), subject=SUBJECTS
        ),
        match_summary=expand(
            processed("{{cohort}}/main", "match_summary_{subject}.json"), subject=SUBJECTS
        ),
        analysis_estimates=expand(
            processed("{{cohort}}/{analysis}", "estimates.parquet"), analysis=ANALYSES
        ),
        confounding=processed("{cohort}/main", "confounding.csv"),
        attrition=processed("{cohort}/main", "attrition.csv"),
        attrition_baseline=processed("{cohort}/main", "attrition_baseline.csv"),
        lee_bounds=processed("{cohort}/main", "lee_bounds.csv"),
        ingest_summary=processed("{cohort}", "ingest_summary.json"),
        growth_norms=processed("{cohort}/main", "growth_norms.csv"),
        year_estimates=year_estimates,
    output:
        html=report(
            "reports/{cohort}/report.html",
            caption="../report/funder_report.rst",
            category="Funder report",
        ),
        pdf=report(
            "reports/{cohort}/report.pdf",
            caption="../report/funder_report.rst",
            category="Funder report",
        ),
        figures=report(
            directory("reports/{cohort}/figures"),
            patterns=["{name}.png"],
            caption="../report/report_figures.rst",
            category="Funder report",
            subcategory="Figures",
        ),
        tables=directory("reports/{cohort}/tables"),
        suppression_log="reports/{cohort}/suppression_log.csv",
        # one page per PL school, <slug>.html and .pdf: a folder, since the schools are known
        # only once the estimates are (per-school outputs would need a checkpoint)
        school_pages=directory("reports/{cohort}/schools"),
    params:
        subjects=" ".join(SUBJECTS),
        analyses=" ".join(ANALYSES),
        year_analyses=lambda w, input: (
            f"--year-analyses {' '.join(a.name for a in YEAR_ANALYSES.get(w.cohort, []))}"
            f" --year-estimates {' '.join(shlex.quote(p) for p in input.year_estimates)}"
            if input.year_estimates
            else ""
        ),
        config=as_json(config),
        settings=as_json(config["report"]),
    # worker processes for the school pages and PDFs (scaled down to --cores; same outputs)
    threads: 4
    resources:
        mem_mb=mem_mb("report"),
    conda:
        "../envs/pl_eval.yaml"
    log:
        "logs/{cohort}/report.log",
    benchmark:
        "benchmarks/results/{cohort}/report.tsv"
    shell:
        "pl-eval report --estimates {input.estimates:q} --breakout-tests {input.breakout_tests:q}"
        " --trajectory {input.trajectory:q} --exclusions {input.exclusions:q}"
        " --school-trajectory {input.school_trajectory:q} --school-pages {output.school_pages:q}"
        " --schools {input.schools:q} --subjects {params.subjects}"
        " --balance {input.balance:q} --match-summary {input.match_summary:q}"
        " --propensity {input.propensity:q} --analyses {params.analyses}"
        " --analysis-estimates {input.analysis_estimates:q}"
        " --confounding {input.confounding:q} --attrition {input.attrition:q}"
        " --attrition-baseline {input.attrition_baseline:q} --lee-bounds {input.lee_bounds:q}"
        " --config {params.config:q} --html {output.html:q} --pdf {output.pdf:q}"
        " --figures {output.figures:q}"
        " --tables {output.tables:q} --suppression-log {output.suppression_log:q}"
        " --settings {params.settings:q} --log {log:q}"
        " --cohort {wildcards.cohort:q} --ingest-summary {input.ingest_summary:q}"
        " --growth-norms {input.growth_norms:q} --workers {threads}"
        " {params.year_analyses}"


# reports/combined/ matches the report rule's pattern too; "combined" is no cohort name.
ruleorder: combined_report > report


rule combined_report:
    """Cross-cohort summary: every cohort's headline and sector estimates side by side."""
    input:
        estimates=expand(processed("{cohort}/main", "estimates.parquet"), cohort=COHORTS),
        ingest_summaries=expand(processed("{cohort}", "ingest_summary.json"), cohort=COHORTS),
        schools=expand(processed("{cohort}", "schools.parquet"), cohort=COHORTS),
    output:
        html=report(
            "reports/combined/report.html",
            caption="../report/combined_report.rst",
            category="Combined report",
        ),
        pdf=report(
            "reports/combined/report.pdf",
            caption="../report/combined_report.rst",
            category="Combined report",
        ),
        figures=directory("reports/combined/figures"),
        tables=directory("reports/combined/tables"),
        suppression_log="reports/combined/suppression_log.csv",
    params:
        cohorts=" ".join(COHORTS),
        config=as_json(config),
        settings=as_json(config["report"]),
    conda:
        "../envs/pl_eval.yaml"
    log:
        "logs/combined/combined_report.log",
    benchmark:
        "benchmarks/results/combined/combined_report.tsv"
    shell:
        "pl-eval combined-report --cohorts {params.cohorts} --estimates {input.estimates:q}"
        " --ingest-summaries {input.ingest_summaries:q} --schools {input.schools:q}"
        " --config {params.config:q} --html {output.html:q} --pdf {output.pdf:q}"
        " --figures {output.figures:q} --tables {output.tables:q}"
        " --suppression-log {output.suppression_log:q} --settings {params.settings:q}"
        " --log {log:q}"
