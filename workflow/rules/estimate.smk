rule estimate:
    """Pooled, school-level and breakout effects, percentile points and trajectories."""
    input:
        matched=expand(processed("{{cohort}}", "matched_{subject}.parquet"), subject=SUBJECTS),
        pairs=expand(processed("{{cohort}}", "pairs_{subject}.parquet"), subject=SUBJECTS),
    output:
        estimates=processed("{cohort}", "estimates.parquet"),
        estimates_csv=processed("{cohort}", "estimates.csv"),
        breakout_tests=processed("{cohort}", "breakout_tests.csv"),
        trajectory=processed("{cohort}", "trajectory.csv"),
        summary=processed("{cohort}", "estimate_summary.txt"),
    params:
        subjects=" ".join(SUBJECTS),
        settings=as_json(config["estimate"]),
    conda:
        "../envs/pl_eval.yaml"
    log:
        "logs/{cohort}/estimate.log",
    benchmark:
        "benchmarks/results/{cohort}/estimate.tsv"
    shell:
        "pl-eval estimate --subjects {params.subjects} --matched {input.matched:q}"
        " --pairs {input.pairs:q} --estimates {output.estimates:q}"
        " --estimates-csv {output.estimates_csv:q} --breakout-tests {output.breakout_tests:q}"
        " --trajectory {output.trajectory:q} --summary {output.summary:q}"
        " --settings {params.settings:q} --log {log:q}"
