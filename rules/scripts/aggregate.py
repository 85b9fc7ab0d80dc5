"""Rule aggregate: results/summary/{grid,zeroshot,headline}.parquet from the per-cell tables."""

import pandas as pd

from absorbprune.aggregate import grid_table, headline_table
from absorbprune.jobs import start
from absorbprune.provenance import write_parquet
from absorbprune.tables import GRID, HEADLINE, ZEROSHOT


def concat(paths):
    return pd.concat([pd.read_parquet(p) for p in paths], ignore_index=True) if paths else None


job = start(snakemake, "aggregate")
inp, out, prov = snakemake.input, snakemake.output, job.provenance()
zeroshot = concat(inp.zeroshot)
grid = grid_table(concat(inp.linears), concat(inp.ppl), zeroshot)
empty = pd.DataFrame({f.name: pd.Series(dtype=f.type.to_pandas_dtype()) for f in ZEROSHOT})
write_parquet(zeroshot if zeroshot is not None else empty, out.zeroshot, ZEROSHOT, prov)
write_parquet(grid, out.grid, GRID, prov)
write_parquet(headline_table(grid), out.headline, HEADLINE, prov)
