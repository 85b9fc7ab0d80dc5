"""Rule allocate: block -> sparsity for one (model, pruner, allocation, correction, sparsity, seed)."""

import pandas as pd

from absorbprune.allocation import allocate_cell
from absorbprune.jobs import start
from absorbprune.provenance import write_parquet
from absorbprune.tables import ALLOCATION

job = start(snakemake, "allocation")
inp = snakemake.input
reads = {k: pd.read_parquet(inp[k]) for k in ("coefficients", "paper_coefficients") if k in inp.keys()}
cell = dict(snakemake.wildcards.items())
table = allocate_cell(pd.read_parquet(inp.stats), reads, job.params["alloc"], cell)
write_parquet(
    table, snakemake.output[0], ALLOCATION, job.provenance(seeds={"calibration": int(cell["seed"])})
)
