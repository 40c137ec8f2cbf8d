rule simulate:
    """Write a simulated cohort in the NWEA export layout, plus the planted truth."""
    output:
        exports=directory("data/raw/{cohort}/exports"),
        schools="data/raw/{cohort}/schools.csv",
        truth="data/raw/{cohort}/truth.json",
    params:
        raw_dir="data/raw/{cohort}",
        seed=config["simulate"]["seed"],
        # the years listed for the cohort (a list in school_years), else the preset's three
        years=lambda w: (
            " --school-years " + " ".join(config["school_years"][w.cohort])
            if isinstance(config["school_years"].get(w.cohort), list)
            else ""
        ),
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
        " --seed {params.seed}{params.years} --log {log:q}"
