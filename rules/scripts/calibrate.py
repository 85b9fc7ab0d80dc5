"""Rule calibrate: one dense pass -> layer_stats.parquet + input_norms.safetensors."""

from absorbprune.calibration.statistics import calibrate
from absorbprune.core.io import read_tensors, write_parquet, write_safetensors
from absorbprune.core.jobs import start
from absorbprune.models.loading import load_model
from absorbprune.tables.calibration import layer_stats_schema

job = start(snakemake, "calibration")
p, key = job.params, snakemake.wildcards.model
adapter = load_model(key, p["model"], (snakemake.input.model or [None])[0])
tokens = read_tensors(snakemake.input.tokens, ("input_ids",))["input_ids"]
stats, norms = calibrate(adapter, tokens, p["batch_size"], p["owl_m"], p["alpha_window"], key)
prov = job.provenance(seeds={"calibration": int(snakemake.wildcards.seed)})
write_parquet(stats, snakemake.output.stats, layer_stats_schema(p["owl_m"]), prov)
write_safetensors(norms, snakemake.output.norms, prov)
