"""Rule tokenizer: byte-level BPE on the corpus train split -> results/tokenizer/."""

import json

from absorbprune.core.io import atomic_dir
from absorbprune.core.jobs import start
from absorbprune.data.corpus import train_tokenizer
from absorbprune.data.sources import load_split

job = start(snakemake, "tokenizer")
cfg = job.params["tokenizer"]
texts = load_split("local", "train", {}, snakemake.input.train.rsplit("/", 1)[0])["text"]
tokenizer = train_tokenizer(texts, cfg["vocab_size"], cfg["min_frequency"])
with atomic_dir(snakemake.output[0]) as tmp:
    tokenizer.save_pretrained(tmp)
    (tmp / "provenance.json").write_text(json.dumps(job.provenance(), indent=2, default=str))
