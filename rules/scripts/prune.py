"""Rules prune / prune_dense: prune one cell sequentially; write its weights and achieved sparsity."""

import pandas as pd
from safetensors.torch import load_file

from absorbprune.jobs import start
from absorbprune.models import load_model, resolve_device
from absorbprune.provenance import write_parquet, write_safetensors
from absorbprune.pruning import check_achieved, dense_rows, linears_table, prune_model, pruned_weights
from absorbprune.tables import PRUNED_LINEARS

job = start(snakemake, "pruning")
p, w, inp, out = job.params, snakemake.wildcards, snakemake.input, snakemake.output
adapter = load_model(w.model, p["model"], (inp.model or [None])[0], device="cpu")
if "pruner" not in w.keys():  # prune_dense
    table = linears_table(dense_rows(adapter), w.model, "dense", "unstructured", "dense", "none", 0.0)
else:
    cfg, structure = p["pruning"], w.structure.replace("-", ":")
    alloc = pd.read_parquet(inp.allocation).sort_values("block")["block_sparsity"].tolist()
    rows = prune_model(
        adapter,
        load_file(inp.tokens)["input_ids"],
        alloc,
        w.pruner,
        structure,
        cfg["batch_size"],
        resolve_device(p["model"]["device"]),
        {"blocksize": cfg["sparsegpt_blocksize"], "percdamp": cfg["sparsegpt_percdamp"]},
        w.model,
    )
    out_features = {
        (r["block"], r["linear"]): adapter.linears(r["block"])[r["linear"]].out_features for r in rows
    }
    check_achieved(
        rows,
        out_features,
        "/".join(w[k] for k in ("model", "pruner", "structure", "allocation", "correction", "sparsity")),
    )
    write_safetensors(pruned_weights(adapter), out.weights, job.provenance())
    table = linears_table(rows, w.model, w.pruner, structure, w.allocation, w.correction, float(w.sparsity))
write_parquet(table, out.linears, PRUNED_LINEARS, job.provenance())
