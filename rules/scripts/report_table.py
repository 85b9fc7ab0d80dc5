"""Rule report_table: one summary table as an HTML page for the report."""

import pandas as pd

from absorbprune.jobs import start
from absorbprune.report import write_table_html

job = start(snakemake, "report")
name = job.params["table"]
write_table_html(pd.read_parquet(snakemake.input.table), name, snakemake.input.table, snakemake.output[0])
