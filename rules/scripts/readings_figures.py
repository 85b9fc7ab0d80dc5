"""Rule readings_figures: the paper's r_l by depth under every reading of it (PNG)."""

import pandas as pd

from absorbprune.core.jobs import start
from absorbprune.reporting.figures import readings_figure

job = start(snakemake, "figures")
readings_figure(
    pd.read_parquet(snakemake.input.readings), snakemake.wildcards.model, snakemake.output.readings
)
