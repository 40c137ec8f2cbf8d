rule year_analysis:
    """A multi-year cohort's one-year, span or placebo analysis (main settings) in one job:
    its panel from the cohort's one ingest, each subject's match and estimate, then their
    combination; the files the build_panel, match, estimate and combine_estimates rules write
    for any other analysis (small panels: one process instead of six)."""
    input:
        scores=ingested("scores"),
        rejects=ingested("rejects"),
        schools=ingested("schools"),
    output:
        panel=processed("{cohort}", "panel.parquet"),
        exclusions=processed("{cohort}", "exclusions.csv"),
        lost_students=processed("{cohort}", "lost_students.parquet"),
        matched=per_subject("matched_{subject}.parquet"),
        pairs=per_subject("pairs_{subject}.parquet"),
        propensity=per_subject("propensity_{subject}.parquet"),
        balance=per_subject("balance_{subject}.csv"),
        match_summary=per_subject("match_summary_{subject}.json"),
        love_plot=per_subject("figures/love_{subject}.png"),
        overlap_plot=per_subject("figures/overlap_{subject}.png"),
        subject_estimates=per_subject("estimates_{subject}.parquet"),
        subject_breakout_tests=per_subject("breakout_tests_{subject}.parquet"),
        subject_trajectories=per_subject("trajectory_{subject}.parquet"),
        subject_school_trajectories=per_subject("school_trajectory_{subject}.parquet"),
        estimates=processed("{cohort}/main", "estimates.parquet"),
        estimates_csv=processed("{cohort}/main", "estimates.csv"),
        breakout_tests=processed("{cohort}/main", "breakout_tests.csv"),
        trajectory=processed("{cohort}/main", "trajectory.csv"),
        school_trajectory=processed("{cohort}/main", "school_trajectory.parquet"),
        summary=processed("{cohort}/main", "estimate_summary.txt"),
    params:
        years=panel_years,
        subjects=" ".join(SUBJECTS),
        panel_settings=as_json(analysis_section(config, "main", "panel")),
        match_settings=as_json(analysis_section(config, "main", "match")),
        estimate_settings=as_json(analysis_section(config, "main", "estimate")),
    wildcard_constraints:
        cohort=one_of(YEAR_NAMES),
    priority: YEARS_EARLY
    resources:
        mem_mb=mem_mb("year_analysis"),
    conda:
        "../envs/pl_eval.yaml"
    log:
        "logs/{cohort}/main/year_analysis.log",
    benchmark:
        "benchmarks/results/{cohort}/main/year_analysis.tsv"
    shell:
        "pl-eval year-analysis --scores {input.scores:q} --rejects {input.rejects:q}"
        " --schools {input.schools:q} --panel {output.panel:q}"
        " --exclusions {output.exclusions:q} --lost-students {output.lost_students:q}"
        " {params.years} --cohort {wildcards.cohort:q} --subjects {params.subjects}"
        " --matched {output.matched:q} --pairs {output.pairs:q}"
        " --propensity {output.propensity:q} --balance {output.balance:q}"
        " --match-summary {output.match_summary:q} --love-plot {output.love_plot:q}"
        " --overlap-plot {output.overlap_plot:q}"
        " --subject-estimates {output.subject_estimates:q}"
        " --subject-breakout-tests {output.subject_breakout_tests:q}"
        " --subject-trajectories {output.subject_trajectories:q}"
        " --subject-school-trajectories {output.subject_school_trajectories:q}"
        " --estimates {output.estimates:q} --estimates-csv {output.estimates_csv:q}"
        " --breakout-tests {output.breakout_tests:q} --trajectory {output.trajectory:q}"
        " --school-trajectory {output.school_trajectory:q} --summary {output.summary:q}"
        " --panel-settings {params.panel_settings:q} --match-settings {params.match_settings:q}"
        " --estimate-settings {params.estimate_settings:q} --log {log:q}"
