"""Rule allocate: block -> sparsity for one (model, pruner, allocation, correction, sparsity, seed)."""

import pandas as pd

from absorbprune.allocation.cell import AllocationSpec, allocate_cell
from absorbprune.core.io import write_parquet
from absorbprune.core.jobs import start
from absorbprune.plan.cell import Cell
from absorbprune.tables.allocation import ALLOCATION

job = start(snakemake, "allocation")
inp, w = snakemake.input, dict(snakemake.wildcards.items())
cell = Cell.from_wildcards({**w, "structure": "unstructured"})  # an allocation has no structure
reads = {k: pd.read_parquet(inp[k]) for k in ("coefficients", "readings") if k in inp.keys()}
spec = AllocationSpec(**job.params["alloc"])
table = allocate_cell(pd.read_parquet(inp.stats), reads, spec, cell)
write_parquet(table, snakemake.output[0], ALLOCATION, job.provenance(seeds={"calibration": cell.seed}))
