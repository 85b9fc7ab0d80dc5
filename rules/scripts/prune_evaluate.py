"""Rules prune_evaluate / evaluate_dense: prune one cell in memory (the dense model: not), measure it."""

from absorbprune.evaluation import evaluate_cell
from absorbprune.jobs import start

job = start(snakemake, "prune_evaluate")
inp, first = snakemake.input, lambda files: (files or [None])[0]
res = evaluate_cell(
    dict(snakemake.wildcards.items()),
    job.params,
    first(inp.model),
    inp.ppl_tokens,
    first(inp.data),
    inp.get("allocation"),
    inp.get("tokens"),
)
seeds = {"lm_eval": job.params["zeroshot"]["seed"]}
res.write(dict(snakemake.output.items()), job.provenance(seeds=seeds, device=str(res.device)))
