"""Rule reference_check: the run's baselines beside the published numbers (reporting.reference_check)."""

import pandas as pd

from absorbprune.core.io import atomic_file, write_parquet
from absorbprune.core.jobs import start
from absorbprune.reporting.reference_check import protocol_of, reference_check, variant_hyperparameters
from absorbprune.reporting.reference_page import reference_check_html
from absorbprune.tables.summary import REFERENCE_CHECK

job = start(snakemake, "report")
config, out = job.params["config"], snakemake.output
table = reference_check(
    pd.read_parquet(snakemake.input.grid),
    config["models"],
    protocol_of(config),
    variant_hyperparameters(config),
)
write_parquet(table, out.table, REFERENCE_CHECK, job.provenance())
with atomic_file(out.page) as tmp:
    tmp.write_text(reference_check_html(table))
