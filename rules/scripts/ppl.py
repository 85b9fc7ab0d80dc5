"""Rules ppl / ppl_dense: perplexity of one cell (the dense model with its pruned weights) or dense."""

from safetensors.torch import load_file

from absorbprune.evaluation import load_pruned_weights, ppl_row
from absorbprune.jobs import start
from absorbprune.models import load_model
from absorbprune.provenance import write_parquet
from absorbprune.tables import PPL

job = start(snakemake, "evaluation")
p, w, inp = job.params, dict(snakemake.wildcards.items()), snakemake.input
adapter = load_model(w["model"], p["model"], (inp.model or [None])[0])
if "pruner" in w:
    load_pruned_weights(adapter, load_file(inp.weights))
    cell = {**w, "structure": w["structure"].replace("-", ":"), "sparsity": float(w["sparsity"])}
else:
    cell = {
        "model": w["model"],
        "pruner": "dense",
        "structure": "unstructured",
        "allocation": "dense",
        "correction": "none",
        "sparsity": 0.0,
    }
ev = p["evaluation"]
table = ppl_row(adapter.model, load_file(inp.tokens)["input_ids"], ev["seqlen"], 8, cell, ev["ppl_source"])
write_parquet(table[PPL.names], snakemake.output[0], PPL, job.provenance())
