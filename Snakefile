# absorbprune: layer-wise sparsity with perturbation absorption (arXiv 2606.15161).
# This file only wires: config, validation, includes, the final targets. Logic lives in src/.
import os
import sys

# Parse-time imports (config validation, the grid) work from a bare checkout; jobs import the
# installed package (`make run` installs it editable into .venv; envs/workflow.yaml installs it too).
sys.path.insert(0, os.path.join(workflow.basedir, "src"))

from absorbprune.core.network import set_network
from absorbprune.plan.config.files import check_config_files
from absorbprune.plan.config.validate import validate_config

# Snakemake keeps the last of duplicate YAML keys silently and names no file on a syntax error in
# the workflow's config file: read every config file strictly first (file and line on error).
check_config_files([os.path.join(workflow.basedir, "config.yaml"), *workflow.config_settings.configfiles])


# Anchored to the workflow directory so `--directory` and `--configfile` overrides merge onto it.
configfile: os.path.join(workflow.basedir, "config.yaml")


validate_config(config)  # fills defaults; raises naming every bad key before any job starts
set_network(config["allow_network"])


# One file per stage, in the order data flows; src/absorbprune/<stage>/ holds each stage's code.
include: "rules/common.smk"
include: "rules/models.smk"
include: "rules/data.smk"
include: "rules/calibration.smk"
include: "rules/absorption.smk"
include: "rules/allocation.smk"
include: "rules/pruning.smk"
include: "rules/evaluation.smk"
include: "rules/reporting.smk"
include: "rules/export.smk"


report: "rules/report/workflow.rst"


# Seconds of table, figure and allocation work without a model: on a cluster these run beside the
# controller, not as jobs (6,600 one-second allocate jobs on the paper's grid); prefetch needs the
# login node's network.
localrules:
    prefetch,
    allocate,
    absorption,
    paper_coefficients,
    coefficient_readings,
    zeroshot_data,
    audit_tokens,
    findings,
    sweep_summary,
    allocation_summary,
    pruning_summary,
    select,
    aggregate,
    paper_claims,
    sweep_figures,
    readings_figures,
    grid_figures,
    claims_page,
    verdict_page,
    reference_check,
    report_table,
    export_allocations,


rule all:
    default_target: True
    input:
        final_targets(),
