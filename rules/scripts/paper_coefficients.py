"""Rule paper_coefficients: the paper's r_l = E[R_L / R_l] at every gaussian magnitude of one
calibration seed's sweep, L the last block and after the final norm (docs/methods.md 5.2)."""

import pandas as pd

from absorbprune.absorption.coefficients import paper_coefficient_table
from absorbprune.core.io import write_parquet
from absorbprune.core.jobs import start
from absorbprune.tables.absorption import PAPER_COEFFICIENTS

job = start(snakemake, "absorption")
key, seed = snakemake.wildcards.model, int(snakemake.wildcards.seed)
drift = pd.read_parquet(snakemake.input.drift)
n_blocks = int(drift["depth"].max())
table = paper_coefficient_table(drift, key, seed, n_blocks)
write_parquet(table, snakemake.output[0], PAPER_COEFFICIENTS, job.provenance(seeds={"calibration": seed}))
