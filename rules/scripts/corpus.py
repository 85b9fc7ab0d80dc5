"""Rule corpus: the stdlib sources -> results/corpus/{train,valid,test}.parquet + info.json."""

import dataclasses

from absorbprune.core.io import write_json, write_parquet
from absorbprune.core.jobs import start
from absorbprune.data.corpus import build_corpus, stdlib_root
from absorbprune.tables.data import CORPUS

job = start(snakemake, "corpus")
cfg = job.params["corpus"]
frames, info = build_corpus(
    stdlib_root(), cfg["exclude_tests"], cfg["max_bytes"], cfg["valid_fraction"], cfg["test_fraction"]
)
prov = job.provenance(corpus=dataclasses.asdict(info))
for split, path in zip(("train", "valid", "test"), snakemake.output.splits, strict=True):
    write_parquet(frames[split], path, CORPUS, prov)
write_json(dataclasses.asdict(info), snakemake.output.info)
