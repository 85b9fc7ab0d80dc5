"""Rule aggregate: summary grid, zeroshot, selection and headline tables from the per-cell tables."""

import pandas as pd

from absorbprune.aggregate import grid_table, named, read_all
from absorbprune.jobs import start
from absorbprune.provenance import write_parquet
from absorbprune.selection import headline_table, selection_table
from absorbprune.tables import GRID, HEADLINE, SELECTION, ZEROSHOT_SUMMARY, empty

job = start(snakemake, "aggregate")
inp, out, prov, names = snakemake.input, snakemake.output, job.provenance(), job.params["names"]
zeroshot = read_all(inp.zeroshot)
grid = grid_table(read_all(inp.linears), read_all(inp.ppl), zeroshot, read_all(inp.valid), names)
write_parquet(named(zeroshot, names), out.zeroshot, ZEROSHOT_SUMMARY, prov)
write_parquet(grid, out.grid, GRID, prov)
choices = pd.read_parquet(inp.choices)
write_parquet(selection_table(choices, grid), out.selection, SELECTION, prov)
headline = headline_table(grid, choices, job.params["controls"])
write_parquet(headline if len(headline) else empty(HEADLINE), out.headline, HEADLINE, prov)
