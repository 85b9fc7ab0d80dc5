"""Rule noise_floor: one representative cell pruned again under float-level perturbations of the
sequential pass, each measured on the test text (evaluation.noise)."""

from absorbprune.core.io import write_parquet
from absorbprune.core.jobs import start
from absorbprune.evaluation.cell import PerplexitySpec
from absorbprune.evaluation.noise import cell_noise_table
from absorbprune.models.loading import load_model, resolve_device
from absorbprune.plan.cell import Cell
from absorbprune.pruning.sequential import PruneSpec
from absorbprune.tables.cells import NOISE

job = start(snakemake, "evaluation")
inp, p = snakemake.input, job.params
cell = Cell(**p["noise"]["cell"])
device = resolve_device(p["model"]["device"])
adapter = load_model(cell.model, p["model"], (inp.model or [None])[0], device="cpu")
test, _ = PerplexitySpec.test_and_valid(p["evaluation"])
prune = PruneSpec.for_cell(cell.pruner, cell.nm, p["pruning"])
files = (inp.allocation, inp.tokens, inp.ppl_tokens)
table = cell_noise_table(adapter, cell, files, prune, test, device, p["noise"]["perturbations"])
write_parquet(
    table, snakemake.output[0], NOISE, job.provenance(seeds={"calibration": cell.seed}, device=str(device))
)
