"""Rule calibrate: one dense pass -> layer_stats.parquet + input_norms.safetensors."""

import pandas as pd

from absorbprune.calibration.alpha import fits_from_table
from absorbprune.calibration.statistics import calibrate
from absorbprune.core.io import read_tensors, write_parquet, write_safetensors
from absorbprune.core.jobs import start
from absorbprune.models.loading import load_model
from absorbprune.tables.calibration import layer_stats_schema

job = start(snakemake, "calibration")
p, key, inp = job.params, snakemake.wildcards.model, snakemake.input
adapter = load_model(key, p["model"], (inp.model or [None])[0])
tokens = read_tensors(inp.tokens, ("input_ids",))["input_ids"]
fits = fits_from_table(pd.read_parquet(inp.weights))
stats, norms = calibrate(adapter, tokens, p["batch_size"], p["owl_m"], fits, key)
prov = job.provenance(seeds={"calibration": int(snakemake.wildcards.seed)})
write_parquet(stats, snakemake.output.stats, layer_stats_schema(p["owl_m"]), prov)
write_safetensors(norms, snakemake.output.norms, prov)
