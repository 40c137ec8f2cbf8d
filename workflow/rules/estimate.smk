rule estimate:
    """One subject's pooled, school-level and breakout effects and its trajectory."""
    input:
        matched=matched_input("matched"),
        pairs=matched_input("pairs"),
    output:
        estimates=processed("{cohort}/{analysis}", "estimates_{subject}.parquet"),
        breakout_tests=processed("{cohort}/{analysis}", "breakout_tests_{subject}.parquet"),
        trajectory=processed("{cohort}/{analysis}", "trajectory_{subject}.parquet"),
        school_trajectory=processed(
            "{cohort}/{analysis}", "school_trajectory_{subject}.parquet"
        ),
    params:
        settings=analysis_settings("estimate"),
    wildcard_constraints:
        cohort=NOT_YEAR_ANALYSIS,
        analysis=NOT_SENSITIVITY_ANALYSIS,
    resources:
        mem_mb=mem_mb("estimate"),
    conda:
        "../envs/pl_eval.yaml"
    log:
        "logs/{cohort}/{analysis}/estimate_{subject}.log",
    benchmark:
        "benchmarks/results/{cohort}/{analysis}/estimate_{subject}.tsv"
    shell:
        "pl-eval estimate --subjects {wildcards.subject} --matched {input.matched:q}"
        " --pairs {input.pairs:q} --estimates {output.estimates:q}"
        " --breakout-tests {output.breakout_tests:q} --trajectory {output.trajectory:q}"
        " --school-trajectory {output.school_trajectory:q}"
        " --settings {params.settings:q} --log {log:q}"


rule combine_estimates:
    """An analysis's estimates of every subject in one table (as one estimate job would)."""
    input:
        subject_estimates=expand(
            processed("{{cohort}}/{{analysis}}", "estimates_{subject}.parquet"), subject=SUBJECTS
        ),
        subject_breakout_tests=expand(
            processed("{{cohort}}/{{analysis}}", "breakout_tests_{subject}.parquet"),
            subject=SUBJECTS,
        ),
        subject_trajectories=expand(
            processed("{{cohort}}/{{analysis}}", "trajectory_{subject}.parquet"), subject=SUBJECTS
        ),
        subject_school_trajectories=expand(
            processed("{{cohort}}/{{analysis}}", "school_trajectory_{subject}.parquet"),
            subject=SUBJECTS,
        ),
    output:
        estimates=processed("{cohort}/{analysis}", "estimates.parquet"),
        estimates_csv=processed("{cohort}/{analysis}", "estimates.csv"),
        breakout_tests=processed("{cohort}/{analysis}", "breakout_tests.csv"),
        trajectory=processed("{cohort}/{analysis}", "trajectory.csv"),
        school_trajectory=processed("{cohort}/{analysis}", "school_trajectory.parquet"),
        summary=processed("{cohort}/{analysis}", "estimate_summary.txt"),
    wildcard_constraints:
        cohort=NOT_YEAR_ANALYSIS,
        analysis=NOT_SENSITIVITY_ANALYSIS,
    conda:
        "../envs/pl_eval.yaml"
    log:
        "logs/{cohort}/{analysis}/combine_estimates.log",
    benchmark:
        "benchmarks/results/{cohort}/{analysis}/combine_estimates.tsv"
    shell:
        "pl-eval combine-estimates --subject-estimates {input.subject_estimates:q}"
        " --subject-breakout-tests {input.subject_breakout_tests:q}"
        " --subject-trajectories {input.subject_trajectories:q}"
        " --subject-school-trajectories {input.subject_school_trajectories:q}"
        " --estimates {output.estimates:q} --estimates-csv {output.estimates_csv:q}"
        " --breakout-tests {output.breakout_tests:q} --trajectory {output.trajectory:q}"
        " --school-trajectory {output.school_trajectory:q}"
        " --summary {output.summary:q} --log {log:q}"
