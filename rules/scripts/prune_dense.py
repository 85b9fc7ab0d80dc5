"""Rule prune_dense: the dense reference rows (the unpruned model's zeros per linear)."""

from absorbprune.jobs import start
from absorbprune.models import load_model
from absorbprune.provenance import write_parquet
from absorbprune.pruning import dense_rows, linears_table
from absorbprune.tables import PRUNED_LINEARS

job = start(snakemake, "pruning")
key, inp = snakemake.wildcards.model, snakemake.input
adapter = load_model(key, job.params["model"], (inp.model or [None])[0], device="cpu")
table = linears_table(dense_rows(adapter), key, "dense", "unstructured", "dense", "none", 0.0)
write_parquet(table, snakemake.output.linears, PRUNED_LINEARS, job.provenance())
