rule growth_norms:
    """Growth against NWEA norms by arm: share who met their projected growth and mean CGP,
    matched (weighted) and unmatched; says so when the exports carry no growth fields."""
    input:
        panel=lambda w: processed(panel_cohort(w.cohort, w.analysis), "panel.parquet"),
        matched=lambda w: [
            processed(f"{w.cohort}/{match_analysis(w.analysis)}", f"matched_{s}.parquet")
            for s in SUBJECTS
        ],
    output:
        growth_norms=processed("{cohort}/{analysis}", "growth_norms.csv"),
    params:
        subjects=" ".join(SUBJECTS),
        settings=analysis_settings("panel"),
    conda:
        "../envs/pl_eval.yaml"
    log:
        "logs/{cohort}/{analysis}/growth_norms.log",
    benchmark:
        "benchmarks/results/{cohort}/{analysis}/growth_norms.tsv"
    shell:
        "pl-eval growth-norms --panel {input.panel:q} --subjects {params.subjects}"
        " --matched {input.matched:q} --growth-norms {output.growth_norms:q}"
        " --settings {params.settings:q} --log {log:q}"
