"""Rule verdict_page: the report's first page, what the correction did (absorbprune.verdict)."""

from pathlib import Path

import pandas as pd

from absorbprune.jobs import start
from absorbprune.provenance import atomic_file
from absorbprune.verdict import verdict_rst

job = start(snakemake, "report")
inp = snakemake.input
page = verdict_rst(
    pd.read_parquet(inp.headline), pd.read_parquet(inp.claims), Path(inp.description).read_text()
)
with atomic_file(snakemake.output[0]) as tmp:
    tmp.write_text(page)
