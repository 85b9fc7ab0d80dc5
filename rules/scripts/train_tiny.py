"""Rule train_tiny: train one built-in model -> results/models/{model}/ + training curve/summary."""

import json

import pandas as pd
from safetensors.torch import load_file
from transformers import PreTrainedTokenizerFast

from absorbprune.architectures import ArchSpec
from absorbprune.jobs import start
from absorbprune.provenance import atomic_dir, write_parquet
from absorbprune.tables import TRAIN_CURVE, TRAIN_SUMMARY
from absorbprune.zoo import TrainSpec, file_sha256, train_tiny_model

job = start(snakemake, "zoo")
spec, key = job.params["model"], snakemake.wildcards.model
tokenizer = PreTrainedTokenizerFast.from_pretrained(snakemake.input.tokenizer)
arch = ArchSpec(family=spec["family"], vocab_size=len(tokenizer), **spec["arch"])
train = TrainSpec(**spec["train"])
model, curve, summary = train_tiny_model(
    arch,
    train,
    load_file(snakemake.input.train)["input_ids"],
    load_file(snakemake.input.valid)["input_ids"],
    key,
)
prov = job.provenance(seeds={"train": train.seed})
with atomic_dir(snakemake.output.model) as tmp:
    model.save_pretrained(tmp)
    tokenizer.save_pretrained(tmp)
    (tmp / "provenance.json").write_text(json.dumps(prov, indent=2, default=str))
    summary["weights_sha256"] = file_sha256(tmp / "model.safetensors")
write_parquet(curve, snakemake.output.curve, TRAIN_CURVE, prov)
write_parquet(pd.DataFrame([summary]), snakemake.output.summary, TRAIN_SUMMARY, prov)
