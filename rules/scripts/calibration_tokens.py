"""Rule calibration_tokens: the exact calibration sequences -> tokens.safetensors (N, seqlen) int64."""

import os

from absorbprune.core.io import write_safetensors
from absorbprune.core.jobs import start
from absorbprune.data.sources import load_split
from absorbprune.data.tokens import calibration_tokens
from absorbprune.models.loading import load_tokenizer

job = start(snakemake, "calibration")
cal = job.params["calibration"]
source = cal["source"]
tokenizer = load_tokenizer(
    snakemake.wildcards.model, job.params["model"], (snakemake.input.model or [None])[0]
)
corpus_dir = os.path.dirname(snakemake.input.corpus[0]) if snakemake.input.corpus else ""
dataset = load_split(source, "train", {source: job.params["dataset"]}, corpus_dir)
seed = int(snakemake.wildcards.seed)
ids = calibration_tokens(source, dataset, tokenizer, cal["n_samples"], cal["seqlen"], seed)
write_safetensors({"input_ids": ids}, snakemake.output[0], job.provenance(seeds={"calibration": seed}))
