"""Rule weight_stats: AlphaPruning's alpha of every prunable linear, from the weights alone, once
per model (every calibration seed's statistics copy it)."""

from absorbprune.calibration.alpha import weight_fits
from absorbprune.core.io import write_parquet
from absorbprune.core.jobs import start
from absorbprune.models.loading import load_model
from absorbprune.tables.calibration import WEIGHT_STATS

job = start(snakemake, "calibration")
p, key = job.params, snakemake.wildcards.model
adapter = load_model(key, p["model"], (snakemake.input.model or [None])[0])
table = weight_fits(adapter, p["alpha_window"], key)
write_parquet(table, snakemake.output[0], WEIGHT_STATS, job.provenance())
