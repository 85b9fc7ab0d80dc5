"""Rule sweep_prune: the prune injection (block k alone pruned with Wanda) at every swept sparsity."""

from absorbprune.absorption.sweeps import build_engine, load_block_norms, run_sweeps
from absorbprune.core.io import read_tensors, write_parquet
from absorbprune.core.jobs import start
from absorbprune.models.loading import load_model
from absorbprune.tables.absorption import DRIFT

job = start(snakemake, "sweeps")
p, key, inp = job.params, snakemake.wildcards.model, snakemake.input
sw = p["sweeps"]
adapter = load_model(key, p["model"], (inp.model or [None])[0])
tokens = read_tensors(inp.tokens, ("input_ids",))["input_ids"]
engine = build_engine(
    adapter, tokens, key, sw["n_sweep"], sw["memory_budget_gb"], sw["max_tokens_per_forward"]
)
drift = run_sweeps(engine, load_block_norms(inp.norms), ["prune"], [], [0], p["sparsities"])
drift["calibration_seed"] = seed = int(snakemake.wildcards.seed)
write_parquet(drift, snakemake.output[0], DRIFT, job.provenance(seeds={"calibration": seed}))
