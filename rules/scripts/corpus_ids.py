"""Rule corpus_ids: one corpus split -> a 1-D int64 token stream, documents separated by EOS."""

import torch
from transformers import PreTrainedTokenizerFast

from absorbprune.data import load_split
from absorbprune.jobs import start
from absorbprune.provenance import write_safetensors

job = start(snakemake, "corpus_ids")
split = snakemake.wildcards.split
tokenizer = PreTrainedTokenizerFast.from_pretrained(snakemake.input.tokenizer)
texts = load_split("local", split, {}, snakemake.input.text.rsplit("/", 1)[0])["text"]
encoded = tokenizer(list(texts))["input_ids"]
ids = torch.tensor([t for doc in encoded for t in [*doc, tokenizer.eos_token_id]], dtype=torch.int64)
write_safetensors({"input_ids": ids}, snakemake.output[0], job.provenance())
