"""Rule evaluate_dense: the unpruned model's zeros per linear, perplexity and zero-shot."""

from absorbprune.core.jobs import start
from absorbprune.evaluation.cell import EvalData, EvalSpec, evaluate
from absorbprune.models.loading import load_model, load_tokenizer, resolve_device
from absorbprune.plan.cell import Cell
from absorbprune.pruning.records import dense_cell

job = start(snakemake, "evaluate_dense")
inp, out, p = snakemake.input, snakemake.output, job.params
cell, model_dir = Cell.dense(snakemake.wildcards.model), (inp.model or [None])[0]
device = resolve_device(p["model"]["device"])
adapter = load_model(cell.model, p["model"], model_dir, device="cpu")
dense = dense_cell(adapter, cell)
tokenizer = load_tokenizer(cell.model, p["model"], model_dir)
spec, data = (
    EvalSpec.from_config(p["evaluation"], p["zeroshot"]),
    EvalData.read(inp.ppl_tokens, inp.valid_tokens, inp.documents),
)
measures = evaluate(adapter.model, tokenizer, cell, spec, data, device)
provenance = job.provenance(seeds={"lm_eval": p["zeroshot"]["seed"]}, device=str(device))
dense.write_linears(out.linears, provenance)
measures.write(out.ppl, out.valid_ppl, out.zeroshot, out.raw, provenance)
