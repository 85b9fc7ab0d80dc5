"""Rules sweep_magnitude / sweep_prune: inject at every block, record drift at every later depth."""

from safetensors.torch import load_file

from absorbprune.jobs import start
from absorbprune.models import load_model
from absorbprune.provenance import write_parquet
from absorbprune.sweeps import SweepEngine, clean_trajectory, eps_grid, load_block_norms, run_sweeps
from absorbprune.tables import DRIFT

job = start(snakemake, "sweeps")
p, key, inp = job.params, snakemake.wildcards.model, snakemake.input
sw = p["sweeps"]
adapter = load_model(key, p["model"], (inp.model or [None])[0])
tokens = load_file(inp.tokens)["input_ids"][: sw["n_sweep"]]
engine = SweepEngine(
    adapter,
    clean_trajectory(adapter, tokens),
    key,
    sw["memory_budget_gb"] * 2**30,
    sw["max_tokens_per_forward"],
)
if "sparsity" in snakemake.wildcards.keys():  # sweep_prune: one sparsity, the prune kind
    kinds, eps, seeds, sparsity = ["prune"], [], [0], float(snakemake.wildcards.sparsity)
else:  # sweep_magnitude
    kinds, sparsity = sw["magnitude_kinds"], sw["prune_dir_sparsity"]
    eps, seeds = eps_grid(sw["eps_min"], sw["eps_max"], sw["eps_points"]), sw["seeds"]
drift = run_sweeps(engine, load_block_norms(inp.norms), kinds, eps, seeds, sparsity)
write_parquet(drift, snakemake.output[0], DRIFT, job.provenance(seeds={"gaussian": list(seeds)}))
