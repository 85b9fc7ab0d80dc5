"""Rule export_model: re-prune one cell from its files, check that it measures what the grid
measured, and write it as a Hugging Face directory (absorbprune.export)."""

from absorbprune.export_model import export_model
from absorbprune.jobs import start

job = start(snakemake, "export")
p = job.params
export_model(p["target"], snakemake.input, p["pruning"], p["evaluation"], job.provenance, snakemake.output[0])
