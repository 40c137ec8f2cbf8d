rule report:
    """The funder report: HTML page and its PDF, with figures, tables and the suppression log."""
    input:
        estimates=processed("{cohort}", "estimates.parquet"),
        breakout_tests=processed("{cohort}", "breakout_tests.csv"),
        trajectory=processed("{cohort}", "trajectory.csv"),
        exclusions=processed("{cohort}", "exclusions.csv"),
        schools=processed("{cohort}", "schools.parquet"),
        balance=expand(processed("{{cohort}}", "balance_{subject}.csv"), subject=SUBJECTS),
        propensity=expand(
            processed("{{cohort}}", "propensity_{subject}.parquet"), subject=SUBJECTS
        ),
        match_summary=expand(
            processed("{{cohort}}", "match_summary_{subject}.json"), subject=SUBJECTS
        ),
        config="config/config.yaml",
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
    params:
        subjects=" ".join(SUBJECTS),
        settings=as_json(config["report"]),
    conda:
        "../envs/pl_eval.yaml"
    log:
        "logs/{cohort}/report.log",
    benchmark:
        "benchmarks/results/{cohort}/report.tsv"
    shell:
        "pl-eval report --estimates {input.estimates:q} --breakout-tests {input.breakout_tests:q}"
        " --trajectory {input.trajectory:q} --exclusions {input.exclusions:q}"
        " --schools {input.schools:q} --subjects {params.subjects}"
        " --balance {input.balance:q} --match-summary {input.match_summary:q}"
        " --propensity {input.propensity:q}"
        " --config {input.config:q} --html {output.html:q} --pdf {output.pdf:q}"
        " --figures {output.figures:q}"
        " --tables {output.tables:q} --suppression-log {output.suppression_log:q}"
        " --settings {params.settings:q} --log {log:q}"
