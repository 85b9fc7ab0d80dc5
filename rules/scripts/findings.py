"""Rule findings: the paper's two claims tested on one model, per-block transition magnitudes and
local gains, every calibration seed's sweep pooled."""

import pandas as pd

from absorbprune.absorption import absorption_coefficients, block_gains, findings, pool_seeds, transitions
from absorbprune.jobs import start
from absorbprune.provenance import write_parquet
from absorbprune.tables import BLOCK_GAINS, FINDINGS, TRANSITIONS

job = start(snakemake, "absorption")
key, inp, s = snakemake.wildcards.model, snakemake.input, job.params["main_sparsity"]
prune, magnitude = (pool_seeds([pd.read_parquet(p) for p in paths]) for paths in (inp.prune, inp.magnitude))
n_blocks = int(prune["depth"].max())
coefficients = absorption_coefficients(prune, n_blocks, key, s)
trans = transitions(magnitude, n_blocks, key)
gains = block_gains(pd.concat([pd.read_parquet(p) for p in inp.gains], ignore_index=True), key, s)
table = findings(coefficients, prune, trans, magnitude, n_blocks, key, s, gains, len(inp.prune))
write_parquet(trans, snakemake.output.transitions, TRANSITIONS, job.provenance())
write_parquet(table, snakemake.output.findings, FINDINGS, job.provenance())
write_parquet(gains, snakemake.output.gains, BLOCK_GAINS, job.provenance())
