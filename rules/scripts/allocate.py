"""Rule allocate: block -> sparsity for one (model, allocation, correction, sparsity)."""

import pandas as pd

from absorbprune.allocation import allocation_table, block_stats
from absorbprune.jobs import start
from absorbprune.provenance import write_parquet
from absorbprune.tables import ALLOCATION

job = start(snakemake, "allocation")
a, w, inp = job.params["alloc"], snakemake.wildcards, snakemake.input
stats = block_stats(pd.read_parquet(inp.stats), a["hp"].get("M", 5))
coef = (
    pd.read_parquet(inp.coefficients[0]).sort_values("block")["coefficient"].to_numpy()
    if inp.coefficients
    else None
)
hp = {k: v for k, v in a["hp"].items() if k != "M"}
table = allocation_table(
    stats,
    w.model,
    a["allocation"],
    w.allocation,
    hp,
    a["correction"],
    w.correction,
    a["gamma"],
    coef,
    float(w.sparsity),
    a["s_min"],
    a["s_max"],
)
write_parquet(table, snakemake.output[0], ALLOCATION, job.provenance())
