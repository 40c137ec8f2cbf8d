rule build_panel:
    """Pair fall and spring tests per student and subject; norms z-scores; sample flow."""
    input:
        scores=processed("{cohort}", "scores.parquet"),
        rejects=processed("{cohort}", "rejects.parquet"),
        schools=processed("{cohort}", "schools.parquet"),
    output:
        panel=processed("{cohort}", "panel.parquet"),
        exclusions=processed("{cohort}", "exclusions.csv"),
        lost_students=processed("{cohort}", "lost_students.parquet"),
    params:
        settings=settings("panel"),
        school_year=lambda w: (
            f"--school-year {config['school_years'][base_cohort(w.cohort)]}"
            if base_cohort(w.cohort) in config["school_years"]
            else ""
        ),
    conda:
        "../envs/pl_eval.yaml"
    log:
        "logs/{cohort}/build_panel.log",
    benchmark:
        "benchmarks/results/{cohort}/build_panel.tsv"
    shell:
        "pl-eval build-panel --scores {input.scores:q} --rejects {input.rejects:q}"
        " --schools {input.schools:q} --panel {output.panel:q}"
        " --exclusions {output.exclusions:q} --lost-students {output.lost_students:q}"
        " --settings {params.settings:q}"
        " {params.school_year} --cohort {wildcards.cohort:q} --log {log:q}"
