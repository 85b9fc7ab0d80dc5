"""Rule zeroshot_dense: the unpruned model's zero-shot accuracy (lm-eval, 0-shot)."""

from pathlib import Path

from absorbprune.core.jobs import start
from absorbprune.evaluation.cell import ZeroshotSpec, write_zeroshot, zeroshot_only
from absorbprune.models.loading import load_model, load_tokenizer, resolve_device
from absorbprune.plan.cell import Cell

job = start(snakemake, "evaluate_dense")
inp, out, p = snakemake.input, snakemake.output, job.params
cell, model_dir = Cell.dense(snakemake.wildcards.model), (inp.model or [None])[0]
device = resolve_device(p["model"]["device"])
adapter = load_model(cell.model, p["model"], model_dir, device="cpu")
tokenizer = load_tokenizer(cell.model, p["model"], model_dir)
zs = ZeroshotSpec.from_config(p["zeroshot"])
documents = {Path(d).stem: d for d in inp.documents}
table, raw = zeroshot_only(adapter.model, tokenizer, cell, zs, documents, device, adapter.bos_id)
provenance = job.provenance(seeds={"lm_eval": zs.seed}, device=str(device))
write_zeroshot(table, raw, out.zeroshot, out.raw, provenance)
