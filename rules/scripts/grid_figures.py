"""Rule grid_figures: allocation profiles and perplexity / zero-shot over the grid (PNG)."""

import pandas as pd

from absorbprune.core.jobs import start
from absorbprune.reporting.figures import allocation_figure, grid_figure

job = start(snakemake, "figures")
key, inp, out, p = snakemake.wildcards.model, snakemake.input, snakemake.output, job.params
allocation_figure(pd.read_parquet(inp.allocations), key, out.allocations, p["controls"])
grid_figure(pd.read_parquet(inp.grid), key, out.grid, chance=p["chance"], controls=p["controls"])
