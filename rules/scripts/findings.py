"""Rule findings: the paper's two claims tested on one model, and per-block transition magnitudes."""

import pandas as pd

from absorbprune.absorption import findings, transitions
from absorbprune.jobs import start
from absorbprune.provenance import write_parquet
from absorbprune.tables import FINDINGS, TRANSITIONS

job = start(snakemake, "absorption")
key, inp, s = snakemake.wildcards.model, snakemake.input, job.params["main_sparsity"]
coefficients, prune, magnitude = (pd.read_parquet(p) for p in (inp.coefficients, inp.prune, inp.magnitude))
n_blocks = int(prune["depth"].max())
trans = transitions(magnitude, n_blocks, key)
table = findings(coefficients, prune, trans, magnitude, n_blocks, key, s)
write_parquet(trans, snakemake.output.transitions, TRANSITIONS, job.provenance())
write_parquet(table, snakemake.output.findings, FINDINGS, job.provenance())
