rule ingest:
    """Validate, normalise, screen and de-duplicate the exports; pseudonymise students."""
    input:
        unpack(raw_inputs),
    output:
        scores=processed("{cohort}", "scores.parquet"),
        duplicates=processed("{cohort}", "duplicates.parquet"),
        rejects=processed("{cohort}", "rejects.parquet"),
        schools=processed("{cohort}", "schools.parquet"),
        summary=processed("{cohort}", "ingest_summary.json"),
    params:
        raw_dir=lambda w: f"data/raw/{base_cohort(w.cohort)}",
        settings=settings("ingest"),
    conda:
        "../envs/pl_eval.yaml"
    log:
        "logs/{cohort}/ingest.log",
    benchmark:
        "benchmarks/results/{cohort}/ingest.tsv"
    shell:
        "pl-eval ingest {params.raw_dir:q} --scores {output.scores:q}"
        " --duplicates {output.duplicates:q} --rejects {output.rejects:q}"
        " --schools {output.schools:q} --summary {output.summary:q}"
        " --settings {params.settings:q} --log {log:q}"
