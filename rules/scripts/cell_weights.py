"""Rule cell_weights (pruning.keep_weights): one cell's pruned linear weights, pruned again from
its files and checked against the cell's zeros per linear."""

from absorbprune.core.jobs import start
from absorbprune.models.loading import load_model, resolve_device
from absorbprune.plan.cell import Cell
from absorbprune.pruning.cell import prune_cell_files
from absorbprune.pruning.sequential import PruneSpec

job = start(snakemake, "pruning")
inp, p = snakemake.input, job.params
cell, model_dir = Cell.from_wildcards(snakemake.wildcards), (inp.model or [None])[0]
device = resolve_device(p["model"]["device"])
adapter = load_model(cell.model, p["model"], model_dir, device="cpu")
prune = PruneSpec.for_cell(cell.pruner, cell.nm, p["pruning"])
pruned = prune_cell_files(adapter, cell, inp.allocation, inp.tokens, prune, device)
pruned.check_zeros(inp.linears, exact=device.type == "cpu")
provenance = job.provenance(seeds={"calibration": cell.seed}, device=str(device))
pruned.write_weights(snakemake.output[0], provenance)
