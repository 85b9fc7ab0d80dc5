"""Rule export_model: re-prune one cell from its files, check that it measures what the grid
measured, and write it as a Hugging Face directory (absorbprune.export.model)."""

from absorbprune.core.jobs import start
from absorbprune.evaluation.cell import PerplexitySpec
from absorbprune.export.model import CellFiles, ExportFiles, ExportSpec, export_model
from absorbprune.plan.exports import ExportTarget
from absorbprune.pruning.sequential import PruneSpec

job = start(snakemake, "export")
inp, p = snakemake.input, job.params
target, pruning = ExportTarget.from_dict(p["export"]["target"]), p["pruning"]
mine = CellFiles(inp.allocation, inp.ppl, inp.valid_ppl, inp.zeroshot, inp.linears)
files = ExportFiles(
    mine, (inp.choice or [None])[0], inp.dense_ppl, inp.tokens, inp.ppl_tokens, inp.valid_tokens,
    (inp.model or [None])[0],
)  # fmt: skip
cell = target.cell
prune = PruneSpec.for_cell(cell.pruner, cell.nm, pruning)
spec = ExportSpec(prune, *PerplexitySpec.test_and_valid(p["evaluation"]))
export_model(target, files, p["export"]["model"], spec, job.provenance, snakemake.output[0])
