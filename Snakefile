# absorbprune: layer-wise sparsity with perturbation absorption (arXiv 2606.15161).
# This file only wires: config, validation, includes, the final targets. Logic lives in src/.
import os
import sys

# Parse-time imports (config validation) work from a bare checkout; jobs import the installed
# package (`make run` installs it editable into .venv; envs/workflow.yaml installs it too).
sys.path.insert(0, os.path.join(workflow.basedir, "src"))

from absorbprune.config import check_config_files, validate_config
from absorbprune.network import set_network

# Snakemake keeps the last of duplicate YAML keys silently and names no file on a syntax error in
# the workflow's config file: read every config file strictly first (file and line on error).
check_config_files([os.path.join(workflow.basedir, "config.yaml"), *workflow.config_settings.configfiles])


# Anchored to the workflow directory so `--directory` and `--configfile` overrides merge onto it.
configfile: os.path.join(workflow.basedir, "config.yaml")


validate_config(config)  # fills defaults; raises naming every bad key before any job starts
set_network(config["allow_network"])


include: "rules/common.smk"
include: "rules/zoo.smk"
include: "rules/data.smk"
include: "rules/calibration.smk"
include: "rules/sweeps.smk"
include: "rules/absorption.smk"
include: "rules/allocation.smk"
include: "rules/pruning.smk"
include: "rules/evaluation.smk"
include: "rules/aggregate.smk"
include: "rules/export.smk"


# The report opens on the verdict once a run has written it (rule verdict_page), else on the
# workflow's description.
report: os.path.abspath(VERDICT_PAGE) if os.path.exists(VERDICT_PAGE) else "rules/report/workflow.rst"


# Seconds of table and figure work: on a cluster these run beside the controller, not as jobs.
localrules:
    findings,
    sweep_figures,
    sweep_summary,
    allocation_summary,
    pruning_summary,
    aggregate,
    select,
    paper_claims,
    paper_coefficients,
    grid_figures,
    report_table,
    claims_page,
    export_allocations,
    verdict_page,


rule all:
    default_target: True
    input:
        final_targets(),
