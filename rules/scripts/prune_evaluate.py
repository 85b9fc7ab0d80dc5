"""Rule prune_evaluate: prune one cell in memory, then measure it (evaluation.pruned); a numerical
failure is the cell's recorded outcome, any other error fails the job."""

from absorbprune.core.jobs import start
from absorbprune.evaluation.cell import EvalData, EvalSpec
from absorbprune.evaluation.pruned import prune_and_measure
from absorbprune.models.loading import load_model, load_tokenizer, resolve_device
from absorbprune.plan.cell import Cell
from absorbprune.pruning.sequential import PruneSpec

job = start(snakemake, "prune_evaluate")
inp, out, p = snakemake.input, snakemake.output, job.params
cell, model_dir = Cell.from_wildcards(snakemake.wildcards), (inp.model or [None])[0]
device = resolve_device(p["model"]["device"])  # pruning streams blocks through it; evaluation runs on it
adapter = load_model(cell.model, p["model"], model_dir, device="cpu")
tokenizer = load_tokenizer(cell.model, p["model"], model_dir)
spec = EvalSpec.from_config(p["evaluation"], p["zeroshot"])
data = EvalData.read(inp.ppl_tokens, inp.valid_tokens, inp.documents)
files, prune = (inp.allocation, inp.tokens), PruneSpec.for_cell(cell.pruner, cell.nm, p["pruning"])
pruned, measures = prune_and_measure(adapter, tokenizer, cell, files, prune, spec, data, device)
seeds = {"lm_eval": p["zeroshot"]["seed"], "calibration": cell.seed}
provenance = job.provenance(seeds=seeds, device=str(device))
pruned.write_linears(out.linears, provenance)
measures.write(out.ppl, out.valid_ppl, out.zeroshot, out.raw, provenance)
