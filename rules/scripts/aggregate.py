"""Rule aggregate: summary grid, zeroshot, selection and headline tables from the per-cell tables."""

from absorbprune.core.io import write_parquet
from absorbprune.core.jobs import start
from absorbprune.reporting.grid_table import grid_table, read_all
from absorbprune.reporting.headline import CellItems, headline_table
from absorbprune.reporting.noise import noise_floors, with_noise
from absorbprune.reporting.selection import selection_table
from absorbprune.tables.common import empty
from absorbprune.tables.summary import GRID, HEADLINE, NOISE_FLOOR, SELECTION, ZEROSHOT_SUMMARY

job = start(snakemake, "aggregate")
inp, out, prov = snakemake.input, snakemake.output, job.provenance()
zeroshot = read_all(inp.zeroshot)
every = job.params["zeroshot_cells"] == "all"  # else only the dense models and the selected cells have it
grid = grid_table(read_all(inp.linears), ppl := read_all(inp.ppl), zeroshot, read_all(inp.valid), every)
write_parquet(zeroshot.reset_index(drop=True), out.zeroshot, ZEROSHOT_SUMMARY, prov)
write_parquet(grid, out.grid, GRID, prov)
choices = read_all(inp.choices)
write_parquet(selection_table(choices, grid), out.selection, SELECTION, prov)
write_parquet(floors := noise_floors(read_all(inp.noise)), out.noise_floor, NOISE_FLOOR, prov)
items = CellItems.from_tables(ppl, zeroshot)  # what the bootstrap resamples
head = headline_table(grid, choices, job.params["controls"], items, job.params["uncertainty"])
head = with_noise(head, floors)
write_parquet(head[HEADLINE.names] if len(head) else empty(HEADLINE), out.headline, HEADLINE, prov)
