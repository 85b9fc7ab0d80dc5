"""Rule allocate: block -> sparsity for one (model, allocation, correction, sparsity)."""

import pandas as pd

from absorbprune.allocation import allocate_cell
from absorbprune.jobs import start
from absorbprune.provenance import write_parquet
from absorbprune.tables import ALLOCATION

job = start(snakemake, "allocation")
w, inp = snakemake.wildcards, snakemake.input
coefficients = pd.read_parquet(inp.coefficients[0]) if inp.coefficients else None
table = allocate_cell(
    pd.read_parquet(inp.stats),
    coefficients,
    job.params["alloc"],
    w.model,
    w.allocation,
    w.correction,
    float(w.sparsity),
)
write_parquet(table, snakemake.output[0], ALLOCATION, job.provenance())
