"""Rule select: per selection group, the candidate with the lowest validation perplexity averaged
over calibration seeds (docs/methods.md 5.4). Its inputs are validation files only."""

import pandas as pd

from absorbprune.core.io import write_parquet
from absorbprune.core.jobs import start
from absorbprune.reporting.selection import choose
from absorbprune.tables.summary import CHOICES

job = start(snakemake, "selection")
valid = pd.concat([pd.read_parquet(p) for p in snakemake.input.valid], ignore_index=True)
table = choose(valid, job.params["candidates"], job.params["seeds"])
write_parquet(table, snakemake.output[0], CHOICES, job.provenance())
