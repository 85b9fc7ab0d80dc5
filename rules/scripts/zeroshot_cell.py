"""Rule zeroshot_cell: zero-shot accuracy of a cell validation chose (evaluation.zeroshot.cells:
selected): pruned again from its files, its test perplexity checked against the grid's first."""

from absorbprune.core.jobs import start
from absorbprune.evaluation.cell import EvalData, EvalSpec
from absorbprune.evaluation.pruned import zeroshot_of_cell
from absorbprune.models.loading import load_model, load_tokenizer, resolve_device
from absorbprune.plan.cell import Cell
from absorbprune.pruning.sequential import PruneSpec

job = start(snakemake, "evaluation")
inp, out, p = snakemake.input, snakemake.output, job.params
cell, model_dir = Cell.from_wildcards(snakemake.wildcards), (inp.model or [None])[0]
device = resolve_device(p["model"]["device"])
adapter = load_model(cell.model, p["model"], model_dir, device="cpu")
tokenizer = load_tokenizer(cell.model, p["model"], model_dir)
spec = EvalSpec.from_config(p["evaluation"], p["zeroshot"])
data = EvalData.read(inp.ppl_tokens, inp.ppl_tokens, inp.documents)  # the test text only
files, prune = (inp.allocation, inp.tokens), PruneSpec.for_cell(cell.pruner, cell.nm, p["pruning"])
measures = zeroshot_of_cell(adapter, tokenizer, cell, files, prune, spec, data, device, inp.ppl)
provenance = job.provenance(
    seeds={"lm_eval": p["zeroshot"]["seed"], "calibration": cell.seed}, device=str(device)
)
measures.write_zeroshot(out.zeroshot, out.raw, provenance)
