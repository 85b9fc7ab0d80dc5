"""Rule findings: the paper's two claims tested on one model, per-block transition magnitudes and
local gains, every calibration seed's sweep pooled."""

import pandas as pd

from absorbprune.absorption.coefficients import absorption_coefficients, block_gains, pool_seeds
from absorbprune.absorption.findings import ModelSweeps, findings, transitions
from absorbprune.core.io import write_parquet
from absorbprune.core.jobs import start
from absorbprune.tables.absorption import BLOCK_GAINS, FINDINGS, TRANSITIONS

job = start(snakemake, "absorption")
key, inp, s = snakemake.wildcards.model, snakemake.input, job.params["main_sparsity"]
prune, magnitude = (pool_seeds([pd.read_parquet(p) for p in paths]) for paths in (inp.prune, inp.magnitude))
sweeps = ModelSweeps(key, int(prune["depth"].max()), s, len(inp.prune), prune, magnitude)
coefficients = absorption_coefficients(prune, sweeps.n_blocks, key, s)
trans = transitions(magnitude, sweeps.n_blocks, key)
gains = block_gains(pd.concat([pd.read_parquet(p) for p in inp.gains], ignore_index=True), key, s)
table = findings(sweeps, coefficients, trans, gains)
write_parquet(trans, snakemake.output.transitions, TRANSITIONS, job.provenance())
write_parquet(table, snakemake.output.findings, FINDINGS, job.provenance())
write_parquet(gains, snakemake.output.gains, BLOCK_GAINS, job.provenance())
