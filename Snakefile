# pl_eval: matched-comparison achievement effects from NWEA MAP exports.
# Thin on purpose: configuration and its validation here, one .smk per stage, logic in src/pl_eval.
from snakemake.utils import min_version, validate

from pl_eval import io
from pl_eval.config import check_config_file, check_workflow_config

min_version("9.17")

# A YAML syntax error stops here with its line and column; `configfile:` would not say where.
check_config_file("config/config.yaml")


configfile: "config/config.yaml"


report: "workflow/report/workflow.rst"


check_workflow_config(config, io.read_yaml(workflow.source_path("config/schema.yaml")))
validate(config, "config/schema.yaml")


include: "workflow/rules/common.smk"
include: "workflow/rules/simulate.smk"
include: "workflow/rules/ingest.smk"
include: "workflow/rules/panel.smk"
include: "workflow/rules/match.smk"
include: "workflow/rules/estimate.smk"
include: "workflow/rules/year_analysis.smk"
include: "workflow/rules/sensitivity_analysis.smk"
include: "workflow/rules/growth_norms.smk"
include: "workflow/rules/robustness.smk"
include: "workflow/rules/report.smk"


rule all:
    input:
        expand(rules.report.output.html, cohort=COHORTS),
        expand(rules.report.output.pdf, cohort=COHORTS),
        expand(rules.combine_estimates.output, cohort=[*COHORTS, *YEAR_NAMES], analysis="main"),
        rules.combined_report.output.html if len(COHORTS) > 1 else [],
