rule robustness:
    """How strong an omitted confounder would have to be to move an analysis's pooled and
    sector estimates; students lost by the spring, their baseline, and Lee bounds."""
    input:
        matched=lambda w: [
            processed(f"{w.cohort}/{match_analysis(w.analysis)}", f"matched_{s}.parquet")
            for s in SUBJECTS
        ],
        pairs=lambda w: [
            processed(f"{w.cohort}/{match_analysis(w.analysis)}", f"pairs_{s}.parquet")
            for s in SUBJECTS
        ],
        estimates=processed("{cohort}/{analysis}", "estimates.parquet"),
        panel=lambda w: processed(panel_cohort(w.cohort, w.analysis), "panel.parquet"),
        lost_students=lambda w: processed(
            panel_cohort(w.cohort, w.analysis), "lost_students.parquet"
        ),
        exclusions=lambda w: processed(panel_cohort(w.cohort, w.analysis), "exclusions.csv"),
    output:
        confounding=processed("{cohort}/{analysis}", "confounding.csv"),
        attrition=processed("{cohort}/{analysis}", "attrition.csv"),
        attrition_baseline=processed("{cohort}/{analysis}", "attrition_baseline.csv"),
        lee_bounds=processed("{cohort}/{analysis}", "lee_bounds.csv"),
    params:
        subjects=" ".join(SUBJECTS),
        settings=analysis_settings("estimate"),
    resources:
        mem_mb=mem_mb("robustness"),
    conda:
        "../envs/pl_eval.yaml"
    log:
        "logs/{cohort}/{analysis}/robustness.log",
    benchmark:
        "benchmarks/results/{cohort}/{analysis}/robustness.tsv"
    shell:
        "pl-eval robustness --subjects {params.subjects} --matched {input.matched:q}"
        " --pairs {input.pairs:q} --estimates {input.estimates:q} --panel {input.panel:q}"
        " --lost-students {input.lost_students:q} --exclusions {input.exclusions:q}"
        " --confounding {output.confounding:q} --attrition {output.attrition:q}"
        " --attrition-baseline {output.attrition_baseline:q}"
        " --lee-bounds {output.lee_bounds:q} --settings {params.settings:q} --log {log:q}"
