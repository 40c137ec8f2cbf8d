rule sensitivity_analysis:
    """A sensitivity analysis that matches on its own (SENSITIVITY_ANALYSES) in one job: each
    subject's match and estimate, then their combination; the files the match, estimate and
    combine_estimates rules write for main (one process instead of five: each pays ~1.3 CPU s
    of start-up). Main keeps its per-subject jobs, which run side by side on its critical path."""
    input:
        panel=lambda w: processed(panel_cohort(w.cohort, w.analysis), "panel.parquet"),
    output:
        matched=per_analysis_subject("matched_{subject}.parquet"),
        pairs=per_analysis_subject("pairs_{subject}.parquet"),
        propensity=per_analysis_subject("propensity_{subject}.parquet"),
        balance=per_analysis_subject("balance_{subject}.csv"),
        match_summary=per_analysis_subject("match_summary_{subject}.json"),
        love_plot=per_analysis_subject("figures/love_{subject}.png"),
        overlap_plot=per_analysis_subject("figures/overlap_{subject}.png"),
        subject_estimates=per_analysis_subject("estimates_{subject}.parquet"),
        subject_breakout_tests=per_analysis_subject("breakout_tests_{subject}.parquet"),
        subject_trajectories=per_analysis_subject("trajectory_{subject}.parquet"),
        subject_school_trajectories=per_analysis_subject("school_trajectory_{subject}.parquet"),
        estimates=processed("{cohort}/{analysis}", "estimates.parquet"),
        estimates_csv=processed("{cohort}/{analysis}", "estimates.csv"),
        breakout_tests=processed("{cohort}/{analysis}", "breakout_tests.csv"),
        trajectory=processed("{cohort}/{analysis}", "trajectory.csv"),
        school_trajectory=processed("{cohort}/{analysis}", "school_trajectory.parquet"),
        summary=processed("{cohort}/{analysis}", "estimate_summary.txt"),
    params:
        subjects=" ".join(SUBJECTS),
        match_settings=analysis_settings("match"),
        estimate_settings=analysis_settings("estimate"),
    wildcard_constraints:
        cohort=NOT_YEAR_ANALYSIS,
        analysis=one_of(SENSITIVITY_ANALYSES),
    priority: sensitivity_priority
    resources:
        mem_mb=sensitivity_mem_mb,
    conda:
        "../envs/pl_eval.yaml"
    log:
        "logs/{cohort}/{analysis}/sensitivity_analysis.log",
    benchmark:
        "benchmarks/results/{cohort}/{analysis}/sensitivity_analysis.tsv"
    shell:
        "pl-eval sensitivity-analysis --panel {input.panel:q} --subjects {params.subjects}"
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
        " --match-settings {params.match_settings:q}"
        " --estimate-settings {params.estimate_settings:q} --log {log:q}"
