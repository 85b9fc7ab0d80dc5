"""Rules ppl_tokens and valid_tokens: the test (perplexity) or validation (selection) text,
tokenized once -> (1, n) int64 (data.tokens.split_tokens: the protocol of each source)."""

import os

from absorbprune.core.io import write_safetensors
from absorbprune.core.jobs import start
from absorbprune.data.sources import load_split
from absorbprune.data.tokens import split_tokens
from absorbprune.models.loading import load_tokenizer

job = start(snakemake, "evaluation")
p, inp = job.params, snakemake.input
tokenizer = load_tokenizer(snakemake.wildcards.model, p["model"], (inp.model or [None])[0])
corpus_dir = os.path.dirname(inp.corpus[0]) if inp.corpus else ""
dataset = load_split(p["source"], p["split"], {p["source"]: p["dataset"]}, corpus_dir)
ids = split_tokens(p["source"], p["split"], dataset, tokenizer, p["seqlen"])
write_safetensors({"input_ids": ids}, snakemake.output[0], job.provenance())
