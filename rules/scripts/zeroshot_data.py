"""Rule zeroshot_data: a built-in zero-shot task's documents, from the data products it reads."""

import pandas as pd

from absorbprune.core.io import write_parquet
from absorbprune.core.jobs import start
from absorbprune.registry.base import load_ref
from absorbprune.registry.tasks import ZEROSHOT_TASKS

job = start(snakemake, "data")
entry, settings = ZEROSHOT_TASKS[snakemake.wildcards.task], job.params["settings"]
inputs = {name: pd.read_parquet(path) for name, path in snakemake.input.items()}
docs = entry.load()(inputs, **settings)
prov = job.provenance(seeds={"task": settings.get("seed", 0)})
write_parquet(docs, snakemake.output[0], load_ref(entry.meta.schema), prov)
