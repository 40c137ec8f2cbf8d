# A span's panel and a cohort's share a path pattern; for span names this rule makes it.
ruleorder: build_span_panel > build_panel


rule build_span_panel:
    """Pair one cohort's fall tests with a later cohort's spring tests (a multi-year span)."""
    input:
        fall_scores=span_input("fall", "scores"),
        spring_scores=span_input("spring", "scores"),
        fall_rejects=span_input("fall", "rejects"),
        spring_rejects=span_input("spring", "rejects"),
        schools=span_input("fall", "schools"),
    output:
        panel=processed("{span}", "panel.parquet"),
        exclusions=processed("{span}", "exclusions.csv"),
        lost_students=processed("{span}", "lost_students.parquet"),
    params:
        settings=lambda w: as_json(analysis_section(config, cohort_analysis(w.span), "panel")),
    wildcard_constraints:
        span=rf"{one_of(SPANS)}(~{one_of(ANALYSES)})?",
    conda:
        "../envs/pl_eval.yaml"
    log:
        "logs/{span}/build_span_panel.log",
    benchmark:
        "benchmarks/results/{span}/build_span_panel.tsv"
    shell:
        "pl-eval build-span-panel --fall-scores {input.fall_scores:q}"
        " --spring-scores {input.spring_scores:q} --fall-rejects {input.fall_rejects:q}"
        " --spring-rejects {input.spring_rejects:q} --schools {input.schools:q}"
        " --panel {output.panel:q} --exclusions {output.exclusions:q}"
        " --lost-students {output.lost_students:q}"
        " --settings {params.settings:q} --log {log:q}"
