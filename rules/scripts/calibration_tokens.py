"""Rule calibration_tokens: the exact calibration sequences -> tokens.safetensors (N, seqlen) int64."""

import os

from absorbprune.data import calibration_tokens, load_split
from absorbprune.jobs import start
from absorbprune.models import load_tokenizer
from absorbprune.provenance import write_safetensors

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
