"""Rule grid_figures: allocation profiles and perplexity / zero-shot over the grid (PNG)."""

import pandas as pd

from absorbprune.figures import allocation_figure, grid_figure
from absorbprune.jobs import start

job = start(snakemake, "figures")
key, inp, out = snakemake.wildcards.model, snakemake.input, snakemake.output
allocation_figure(pd.read_parquet(inp.allocations), key, out.allocations)
grid_figure(pd.read_parquet(inp.grid), key, out.grid, chance=job.params["chance"])
