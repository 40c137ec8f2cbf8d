rule match_stratum:
    """One stratum's match (config match.strata): its own propensity model or VCG."""
    input:
        panel=lambda w: processed(panel_cohort(w.cohort, w.analysis), "panel.parquet"),
    output:
        part=directory(processed("{cohort}/{analysis}", "match_parts/{subject}/{stratum}")),
    params:
        settings=analysis_settings("match"),
    wildcard_constraints:
        cohort=NOT_YEAR_ANALYSIS,
        analysis=NOT_SENSITIVITY_ANALYSIS,
        stratum=one_of(stratum_labels(["grade_band"])),
    resources:
        mem_mb=mem_mb("match_stratum"),
    conda:
        "../envs/pl_eval.yaml"
    log:
        "logs/{cohort}/{analysis}/match_stratum_{subject}_{stratum}.log",
    benchmark:
        "benchmarks/results/{cohort}/{analysis}/match_stratum_{subject}_{stratum}.tsv"
    shell:
        "pl-eval match-stratum --panel {input.panel:q} --subject {wildcards.subject}"
        " --stratum {wildcards.stratum:q} --part {output.part:q}"
        " --settings {params.settings:q} --log {log:q}"


rule match:
    """Matched comparison group for one subject: propensity-score or VCG, with balance;
    with match.strata, the merge of its strata's parts."""
    input:
        panel=match_panel,
        parts=match_parts,
    output:
        matched=processed("{cohort}/{analysis}", "matched_{subject}.parquet"),
        pairs=processed("{cohort}/{analysis}", "pairs_{subject}.parquet"),
        propensity=processed("{cohort}/{analysis}", "propensity_{subject}.parquet"),
        balance=processed("{cohort}/{analysis}", "balance_{subject}.csv"),
        summary=processed("{cohort}/{analysis}", "match_summary_{subject}.json"),
        love_plot=report(
            processed("{cohort}/{analysis}", "figures/love_{subject}.png"),
            caption="../report/love.rst",
            category="Comparison group quality",
            subcategory="{analysis}: {subject}",
        ),
        overlap_plot=report(
            processed("{cohort}/{analysis}", "figures/overlap_{subject}.png"),
            caption="../report/overlap.rst",
            category="Comparison group quality",
            subcategory="{analysis}: {subject}",
        ),
    params:
        source=match_source,
        settings=analysis_settings("match"),
    wildcard_constraints:
        cohort=NOT_YEAR_ANALYSIS,
        analysis=NOT_SENSITIVITY_ANALYSIS,
    resources:
        mem_mb=mem_mb("match"),
    conda:
        "../envs/pl_eval.yaml"
    log:
        "logs/{cohort}/{analysis}/match_{subject}.log",
    benchmark:
        "benchmarks/results/{cohort}/{analysis}/match_{subject}.tsv"
    shell:
        "pl-eval match {params.source} --subject {wildcards.subject}"
        " --matched {output.matched:q} --pairs {output.pairs:q}"
        " --propensity {output.propensity:q} --balance {output.balance:q}"
        " --summary {output.summary:q} --love-plot {output.love_plot:q}"
        " --overlap-plot {output.overlap_plot:q} --settings {params.settings:q} --log {log:q}"
