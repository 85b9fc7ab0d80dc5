"""Rule absorption: A_k and the local gains g_j at one sparsity, from the prune sweep."""

import pandas as pd

from absorbprune.absorption import absorption_coefficients, local_gains
from absorbprune.jobs import start
from absorbprune.provenance import write_parquet
from absorbprune.tables import ABSORPTION, GAINS

job = start(snakemake, "absorption")
key, sparsity = snakemake.wildcards.model, float(snakemake.wildcards.sparsity)
drift = pd.read_parquet(snakemake.input.drift)
n_blocks = int(drift["depth"].max())  # depth L is the final norm's output
prov = job.provenance(sparsity=sparsity)
write_parquet(
    absorption_coefficients(drift, n_blocks, key, sparsity), snakemake.output.coefficients, ABSORPTION, prov
)
write_parquet(local_gains(drift, key, sparsity), snakemake.output.gains, GAINS, prov)
