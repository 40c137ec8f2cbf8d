rule read_exports:
    """Read, validate and type a cohort's exports once; every analysis's ingest screens them."""
    input:
        unpack(raw_inputs),
    output:
        tests=processed("{cohort}", "read_exports/tests.arrow"),
        roster_rejects=processed("{cohort}", "read_exports/roster_rejects.arrow"),
        schools=processed("{cohort}", "read_exports/schools.arrow"),
        files=processed("{cohort}", "read_exports/files.json"),
    params:
        raw_dir=lambda w: f"data/raw/{base_cohort(w.cohort)}",
        out=lambda w: processed(w.cohort, "read_exports"),
        settings=read_settings,
    resources:
        mem_mb=mem_mb("read_exports"),
    conda:
        "../envs/pl_eval.yaml"
    log:
        "logs/{cohort}/read_exports.log",
    benchmark:
        "benchmarks/results/{cohort}/read_exports.tsv"
    shell:
        "pl-eval read-exports {params.raw_dir:q} --out {params.out:q}"
        " --settings {params.settings:q} --log {log:q}"


rule ingest:
    """Screen and de-duplicate the typed exports under the analysis's ingest settings."""
    input:
        read_exports=read_exports_input("tests"),
        roster_rejects=read_exports_input("roster_rejects"),
        schools=read_exports_input("schools"),
        files=read_exports_input("files"),
    output:
        scores=processed("{cohort}", "scores.parquet"),
        duplicates=processed("{cohort}", "duplicates.parquet"),
        rejects=processed("{cohort}", "rejects.parquet"),
        schools=processed("{cohort}", "schools.parquet"),
        summary=processed("{cohort}", "ingest_summary.json"),
    params:
        read_exports=lambda w, input: str(Path(input.read_exports).parent),
        settings=settings("ingest"),
    priority: PANELS_FIRST
    resources:
        mem_mb=mem_mb("ingest"),
    conda:
        "../envs/pl_eval.yaml"
    log:
        "logs/{cohort}/ingest.log",
    benchmark:
        "benchmarks/results/{cohort}/ingest.tsv"
    shell:
        "pl-eval ingest --read-exports {params.read_exports:q} --scores {output.scores:q}"
        " --duplicates {output.duplicates:q} --rejects {output.rejects:q}"
        " --schools {output.schools:q} --summary {output.summary:q}"
        " --settings {params.settings:q} --log {log:q}"
