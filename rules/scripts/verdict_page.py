"""Rule verdict_page: the report's verdict page, what the correction did (reporting.verdict)."""

import pandas as pd

from absorbprune.core.io import atomic_file
from absorbprune.core.jobs import start
from absorbprune.reporting.verdict import verdict_html

start(snakemake, "report")
inp = snakemake.input
page = verdict_html(pd.read_parquet(inp.headline), pd.read_parquet(inp.claims), pd.read_parquet(inp.grid))
with atomic_file(snakemake.output[0]) as tmp:
    tmp.write_text(page)
