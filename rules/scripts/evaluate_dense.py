"""Rule evaluate_dense: the unpruned model's zeros per linear, perplexity and zero-shot."""

from absorbprune.evaluation import evaluate
from absorbprune.jobs import start
from absorbprune.models import load_model, resolve_device
from absorbprune.pruning import dense_cell

job = start(snakemake, "evaluate_dense")
inp, p, cell = snakemake.input, job.params, dict(snakemake.wildcards.items())
model_dir = (inp.model or [None])[0]
device = resolve_device(p["model"]["device"])
adapter = load_model(cell["model"], p["model"], model_dir, device="cpu")
dense = dense_cell(adapter, cell)
measures = evaluate(
    adapter, cell, p, model_dir, inp.ppl_tokens, inp.valid_tokens, (inp.data or [None])[0], device
)
provenance = job.provenance(seeds={"lm_eval": p["zeroshot"]["seed"]}, device=str(device))
dense.write(dict(snakemake.output.items()), provenance)
measures.write(dict(snakemake.output.items()), provenance)
