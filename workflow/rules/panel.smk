rule build_panel:
    """Pair fall and spring tests per student and subject; norms z-scores; sample flow (a
    multi-year cohort's one-year, span and placebo panels: in their year_analysis jobs)."""
    input:
        scores=ingested("scores"),
        rejects=ingested("rejects"),
        schools=ingested("schools"),
    output:
        panel=processed("{cohort}", "panel.parquet"),
        exclusions=processed("{cohort}", "exclusions.csv"),
        lost_students=processed("{cohort}", "lost_students.parquet"),
    params:
        settings=settings("panel"),
        years=panel_years,
    wildcard_constraints:
        cohort=NOT_YEAR_ANALYSIS,
    priority: PANELS_FIRST
    resources:
        mem_mb=mem_mb("build_panel"),
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
        " {params.years} --cohort {wildcards.cohort:q} --log {log:q}"
