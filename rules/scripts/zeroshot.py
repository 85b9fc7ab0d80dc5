"""Rules zeroshot / zeroshot_dense: lm-eval 0-shot on one cell (pruned weights loaded) or dense."""

from safetensors.torch import load_file

from absorbprune.evaluation import cell_keys, load_pruned_weights
from absorbprune.jobs import start
from absorbprune.models import load_model, load_tokenizer
from absorbprune.provenance import atomic_file, write_parquet
from absorbprune.tables import ZEROSHOT
from absorbprune.zeroshot import raw_json, run_zeroshot, tidy_results

job = start(snakemake, "evaluation")
p, w, inp, zs = job.params, dict(snakemake.wildcards.items()), snakemake.input, job.params["zeroshot"]
adapter = load_model(w["model"], p["model"], (inp.model or [None])[0])
if "pruner" in w:
    load_pruned_weights(adapter, load_file(inp.weights))
tokenizer = load_tokenizer(w["model"], p["model"], (inp.model or [None])[0])
data = (inp.data or [None])[0]
results = run_zeroshot(adapter.model, tokenizer, zs["tasks"], data, zs["batch_size"], zs["limit"], zs["seed"])
with atomic_file(snakemake.output.raw) as tmp:
    tmp.write_text(raw_json(results))
table = tidy_results(results, zs["tasks"], zs["metric"], cell_keys(w))
write_parquet(table, snakemake.output.table, ZEROSHOT, job.provenance(seeds={"lm_eval": zs["seed"]}))
