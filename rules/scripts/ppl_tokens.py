"""Rule ppl_tokens: the perplexity text joined with blank lines, tokenized once -> (1, n) int64."""

import os

from absorbprune.data import load_split, ppl_tokens
from absorbprune.jobs import start
from absorbprune.models import load_tokenizer
from absorbprune.provenance import write_safetensors

job = start(snakemake, "evaluation")
p, inp = job.params, snakemake.input
tokenizer = load_tokenizer(snakemake.wildcards.model, p["model"], (inp.model or [None])[0])
corpus_dir = os.path.dirname(inp.corpus[0]) if inp.corpus else ""
dataset = load_split(p["source"], "test", {p["source"]: p["dataset"]}, corpus_dir)
write_safetensors({"input_ids": ppl_tokens(dataset, tokenizer)}, snakemake.output[0], job.provenance())
