"""Rule sweep_magnitude: gaussian and prune_dir injections at every block, every eps and seed."""

from absorbprune.absorption.sweeps import build_engine, load_block_norms, run_sweeps
from absorbprune.core.io import read_tensors, write_parquet
from absorbprune.core.jobs import start
from absorbprune.models.loading import load_model
from absorbprune.plan.perturbations import eps_grid
from absorbprune.tables.absorption import DRIFT

job = start(snakemake, "sweeps")
p, key, inp = job.params, snakemake.wildcards.model, snakemake.input
sw = p["sweeps"]
adapter = load_model(key, p["model"], (inp.model or [None])[0])
tokens = read_tensors(inp.tokens, ("input_ids",))["input_ids"]
engine = build_engine(
    adapter, tokens, key, sw["n_sweep"], sw["memory_budget_gb"], sw["max_tokens_per_forward"]
)
eps = eps_grid(sw["eps_min"], sw["eps_max"], sw["eps_points"])
kinds, sparsity = sw["magnitude_kinds"], [sw["prune_dir_sparsity"]]
drift = run_sweeps(engine, load_block_norms(inp.norms), kinds, eps, sw["seeds"], sparsity, sw["first_token"])
drift["calibration_seed"] = seed = int(snakemake.wildcards.seed)
write_parquet(
    drift, snakemake.output[0], DRIFT, job.provenance(seeds={"gaussian": sw["seeds"], "calibration": seed})
)
