"""Rule absorption: A_k and the local gains g_j at one sparsity and calibration seed, from the prune sweep."""

import pandas as pd

from absorbprune.absorption.coefficients import absorption_coefficients, local_gains
from absorbprune.core.io import write_parquet
from absorbprune.core.jobs import start
from absorbprune.tables.absorption import ABSORPTION, GAINS

job = start(snakemake, "absorption")
w = snakemake.wildcards
key, sparsity, seed = w.model, float(w.sparsity), int(w.seed)
drift = pd.read_parquet(snakemake.input.drift)
n_blocks = int(drift["depth"].max())  # depth L is the final norm's output
prov = job.provenance(sparsity=sparsity, seeds={"calibration": seed})
coefficients = absorption_coefficients(drift, n_blocks, key, sparsity).assign(seed=seed)
write_parquet(coefficients, snakemake.output.coefficients, ABSORPTION, prov)
write_parquet(local_gains(drift, key, sparsity).assign(seed=seed), snakemake.output.gains, GAINS, prov)
