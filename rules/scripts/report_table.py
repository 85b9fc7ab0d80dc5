"""Rules report_table and claims_page: one summary table as an HTML page for the report."""

from pathlib import Path

import pandas as pd

from absorbprune.core.jobs import start
from absorbprune.reporting.html import write_table_html

job = start(snakemake, "report")
name = Path(snakemake.input.table).stem
write_table_html(pd.read_parquet(snakemake.input.table), name, snakemake.input.table, snakemake.output[0])
