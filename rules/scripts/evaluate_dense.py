"""Rule evaluate_dense: the unpruned model's zeros per linear and its test and validation perplexity."""

from absorbprune.core.jobs import start
from absorbprune.evaluation.cell import EvalData, EvalSpec, evaluate
from absorbprune.models.loading import load_model, resolve_device
from absorbprune.plan.cell import Cell
from absorbprune.pruning.records import dense_cell

job = start(snakemake, "evaluate_dense")
inp, out, p = snakemake.input, snakemake.output, job.params
cell, model_dir = Cell.dense(snakemake.wildcards.model), (inp.model or [None])[0]
device = resolve_device(p["model"]["device"])
adapter = load_model(cell.model, p["model"], model_dir, device="cpu")
dense = dense_cell(adapter, cell)
spec = EvalSpec.from_config(p["evaluation"], {"tasks": []})  # zero-shot: rule zeroshot_dense
data = EvalData.read(inp.ppl_tokens, inp.valid_tokens)
measures = evaluate(adapter.model, None, cell, spec, data, device, adapter.bos_id)  # bos_id: family policy
provenance = job.provenance(device=str(device))
dense.write_linears(out.linears, provenance)
measures.write_ppl(out.ppl, out.valid_ppl, provenance)
