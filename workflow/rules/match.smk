rule match:
    """Matched comparison group for one subject: propensity-score or VCG, with balance."""
    input:
        panel=processed("{cohort}", "panel.parquet"),
    output:
        matched=processed("{cohort}", "matched_{subject}.parquet"),
        pairs=processed("{cohort}", "pairs_{subject}.parquet"),
        propensity=processed("{cohort}", "propensity_{subject}.parquet"),
        balance=processed("{cohort}", "balance_{subject}.csv"),
        summary=processed("{cohort}", "match_summary_{subject}.json"),
        love_plot=report(
            processed("{cohort}", "figures/love_{subject}.png"),
            caption="../report/love.rst",
            category="Comparison group quality",
            subcategory="{subject}",
        ),
        overlap_plot=report(
            processed("{cohort}", "figures/overlap_{subject}.png"),
            caption="../report/overlap.rst",
            category="Comparison group quality",
            subcategory="{subject}",
        ),
    params:
        settings=as_json(config["match"]),
    wildcard_constraints:
        subject="|".join(SUBJECTS),
    conda:
        "../envs/pl_eval.yaml"
    log:
        "logs/{cohort}/match_{subject}.log",
    benchmark:
        "benchmarks/results/{cohort}/match_{subject}.tsv"
    shell:
        "pl-eval match --panel {input.panel:q} --subject {wildcards.subject}"
        " --matched {output.matched:q} --pairs {output.pairs:q}"
        " --propensity {output.propensity:q} --balance {output.balance:q}"
        " --summary {output.summary:q} --love-plot {output.love_plot:q}"
        " --overlap-plot {output.overlap_plot:q} --settings {params.settings:q} --log {log:q}"
