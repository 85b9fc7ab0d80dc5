"""Rule train_tiny: train one built-in model -> results/models/{model}/ + training curve/summary."""

import pandas as pd
from transformers import PreTrainedTokenizerFast

from absorbprune.core.io import read_tensors, write_parquet
from absorbprune.core.jobs import start
from absorbprune.models.files import save_model_dir
from absorbprune.models.tiny import ArchSpec
from absorbprune.models.training import TrainSpec, train_tiny_model
from absorbprune.tables.models import TRAIN_CURVE, TRAIN_SUMMARY

job = start(snakemake, "models")
spec, key, inp = job.params["model"], snakemake.wildcards.model, snakemake.input
tokenizer = PreTrainedTokenizerFast.from_pretrained(inp.tokenizer)
arch = ArchSpec(family=spec["family"], vocab_size=len(tokenizer), **spec["arch"])
train = TrainSpec(**spec["train"])
streams = [read_tensors(path, ("input_ids",))["input_ids"] for path in (inp.train, inp.valid)]
model, curve, summary = train_tiny_model(arch, train, *streams, key)
prov = job.provenance(seeds={"train": train.seed})
summary["weights_sha256"] = save_model_dir(model, tokenizer, snakemake.output.model, prov)
write_parquet(curve, snakemake.output.curve, TRAIN_CURVE, prov)
write_parquet(pd.DataFrame([summary]), snakemake.output.summary, TRAIN_SUMMARY, prov)
