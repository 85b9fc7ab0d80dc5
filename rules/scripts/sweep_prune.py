"""Rule sweep_prune: the prune injection (block k alone pruned with Wanda) at one sparsity."""

from absorbprune.jobs import start
from absorbprune.models import load_model
from absorbprune.provenance import read_tensors, write_parquet
from absorbprune.sweeps import build_engine, load_block_norms, run_sweeps
from absorbprune.tables import DRIFT

job = start(snakemake, "sweeps")
p, key, inp = job.params, snakemake.wildcards.model, snakemake.input
adapter = load_model(key, p["model"], (inp.model or [None])[0])
engine = build_engine(adapter, read_tensors(inp.tokens, ("input_ids",))["input_ids"], key, p["sweeps"])
sparsity = float(snakemake.wildcards.sparsity)
drift = run_sweeps(engine, load_block_norms(inp.norms), ["prune"], [], [0], sparsity)
drift["calibration_seed"] = seed = int(snakemake.wildcards.seed)
write_parquet(
    drift, snakemake.output[0], DRIFT, job.provenance(sparsity=sparsity, seeds={"calibration": seed})
)
