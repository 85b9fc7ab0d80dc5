"""Rule coefficient_readings: every reading of the paper's coefficient, per model and seed, against
the default reading (docs/methods.md 5.6)."""

import pandas as pd

from absorbprune.core.io import write_parquet
from absorbprune.core.jobs import start
from absorbprune.reporting.readings import reading_summary
from absorbprune.tables.absorption import COEFFICIENT_READINGS

job = start(snakemake, "absorption")
p = job.params
tables = [pd.read_parquet(path) for path in snakemake.input.readings]
summary = reading_summary(tables, p["default"], p["clip"], p["material_corr"])
write_parquet(summary, snakemake.output[0], COEFFICIENT_READINGS, job.provenance())
