"""Rule corpus_ids: one corpus split -> a 1-D int64 token stream, documents separated by EOS."""

import torch
from transformers import PreTrainedTokenizerFast

from absorbprune.core.io import write_safetensors
from absorbprune.core.jobs import start
from absorbprune.data.sources import load_split

job = start(snakemake, "corpus_ids")
split = snakemake.wildcards.split
tokenizer = PreTrainedTokenizerFast.from_pretrained(snakemake.input.tokenizer)
texts = load_split("local", split, {}, snakemake.input.text.rsplit("/", 1)[0])["text"]
encoded = tokenizer(list(texts))["input_ids"]
ids = torch.tensor([t for doc in encoded for t in [*doc, tokenizer.eos_token_id]], dtype=torch.int64)
write_safetensors({"input_ids": ids}, snakemake.output[0], job.provenance())
