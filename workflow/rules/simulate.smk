rule simulate:
    """Write a simulated cohort in the NWEA export layout, plus the planted truth."""
    output:
        exports=directory("data/raw/{cohort}/exports"),
        schools="data/raw/{cohort}/schools.csv",
        truth="data/raw/{cohort}/truth.json",
    params:
        raw_dir="data/raw/{cohort}",
        seed=config["simulate"]["seed"],
        years=simulated_years,
    wildcard_constraints:
        cohort="|".join(SIMULATED_COHORTS),
    conda:
        "../envs/pl_eval.yaml"
    log:
        "logs/{cohort}/simulate.log",
    benchmark:
        "benchmarks/results/{cohort}/simulate.tsv"
    shell:
        "pl-eval simulate {params.raw_dir:q} --size {wildcards.cohort}"
        " --seed {params.seed} {params.years} --log {log:q}"
