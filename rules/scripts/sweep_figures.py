"""Rule sweep_figures: drift against depth, the transition, absorption coefficients (the first
calibration seed), and the local gains pooled over seeds (PNG)."""

import pandas as pd

from absorbprune.absorption.findings import transitions
from absorbprune.core.jobs import start
from absorbprune.reporting.figures import (
    absorption_figure,
    drift_depth_figure,
    local_gains_figure,
    transition_figure,
)

job = start(snakemake, "figures")
key, inp, out = snakemake.wildcards.model, snakemake.input, snakemake.output
prune, magnitude = pd.read_parquet(inp.prune[0]), pd.read_parquet(inp.magnitude[0])
n_blocks = int(prune["depth"].max())
drift_depth_figure(prune, n_blocks, key, job.params["main_sparsity"], out.drift)
# eps* from the drawn data (the first seed), so each X sits on its curve
transition_figure(magnitude, n_blocks, key, out.transition, transitions(magnitude, n_blocks, key))
absorption_figure(pd.concat(pd.read_parquet(p) for p in inp.coefficients), key, out.absorption)
local_gains_figure(pd.read_parquet(inp.gains), key, out.local_gains)
