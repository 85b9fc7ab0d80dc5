"""Rule prune: prune one cell sequentially; write its weights and achieved sparsity per linear."""

import pandas as pd
from safetensors.torch import load_file

from absorbprune.jobs import start
from absorbprune.models import load_model, resolve_device
from absorbprune.provenance import write_parquet, write_safetensors
from absorbprune.pruning import prune_cell
from absorbprune.tables import PRUNED_LINEARS

job = start(snakemake, "pruning")
p, w, inp, out = job.params, snakemake.wildcards, snakemake.input, snakemake.output
adapter = load_model(w.model, p["model"], (inp.model or [None])[0], device="cpu")  # blocks streamed if GPU
sparsity = pd.read_parquet(inp.allocation).sort_values("block")["block_sparsity"].tolist()
tokens = load_file(inp.tokens)["input_ids"]
table, weights = prune_cell(
    adapter, tokens, sparsity, dict(w.items()), p["pruning"], resolve_device(p["model"]["device"])
)
write_safetensors(weights, out.weights, job.provenance())
write_parquet(table, out.linears, PRUNED_LINEARS, job.provenance())
