"""Rule prune_evaluate: prune one cell in memory (pruning), then measure it (evaluation)."""

from absorbprune.evaluation import evaluate
from absorbprune.jobs import start
from absorbprune.models import load_model, resolve_device
from absorbprune.pruning import prune_cell_files

job = start(snakemake, "prune_evaluate")
inp, p, cell = snakemake.input, job.params, dict(snakemake.wildcards.items())
model_dir = (inp.model or [None])[0]
device = resolve_device(p["model"]["device"])  # pruning streams blocks through it; evaluation runs on it
adapter = load_model(cell["model"], p["model"], model_dir, device="cpu")
pruned = prune_cell_files(adapter, cell, inp.allocation, inp.tokens, p["pruning"], device)
measures = evaluate(
    adapter, cell, p, model_dir, inp.ppl_tokens, inp.valid_tokens, (inp.data or [None])[0], device
)
seeds = {"lm_eval": p["zeroshot"]["seed"], "calibration": int(cell["seed"])}
provenance = job.provenance(seeds=seeds, device=str(device))
pruned.write(dict(snakemake.output.items()), provenance)
measures.write(dict(snakemake.output.items()), provenance)
