"""Rules ppl / ppl_dense: perplexity of one cell (the dense model with its pruned weights) or dense."""

from safetensors.torch import load_file

from absorbprune.evaluation import cell_keys, load_pruned_weights, ppl_row
from absorbprune.jobs import start
from absorbprune.models import load_model
from absorbprune.provenance import write_parquet
from absorbprune.tables import PPL

job = start(snakemake, "evaluation")
p, w, inp, ev = job.params, dict(snakemake.wildcards.items()), snakemake.input, job.params["evaluation"]
adapter = load_model(w["model"], p["model"], (inp.model or [None])[0])
if "pruner" in w:
    load_pruned_weights(adapter, load_file(inp.weights))
tokens = load_file(inp.tokens)["input_ids"]
table = ppl_row(adapter.model, tokens, ev["seqlen"], ev["batch_size"], cell_keys(w), ev["ppl_source"])
write_parquet(table, snakemake.output[0], PPL, job.provenance())
