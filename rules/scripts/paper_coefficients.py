"""Rule paper_coefficients: the paper's r_l = E[R_L / R_l] at every gaussian magnitude of one
calibration seed's sweep (docs/methods.md 5.2), and every reading of it the sweep supports (5.6)."""

import pandas as pd

from absorbprune.absorption.coefficients import paper_coefficient_table, reading_table
from absorbprune.core.io import write_parquet
from absorbprune.core.jobs import start
from absorbprune.tables.absorption import PAPER_COEFFICIENTS, READINGS

job = start(snakemake, "absorption")
key, seed = snakemake.wildcards.model, int(snakemake.wildcards.seed)
drift = pd.read_parquet(snakemake.input.drift)
n_blocks = int(drift["depth"].max())
record = job.provenance(seeds={"calibration": seed})
table = paper_coefficient_table(drift, key, seed, n_blocks)
write_parquet(table, snakemake.output.coefficients, PAPER_COEFFICIENTS, record)
write_parquet(reading_table(drift, key, seed, n_blocks), snakemake.output.readings, READINGS, record)
