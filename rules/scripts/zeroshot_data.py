"""Rule zeroshot_data: the built-in codeline task's documents from the corpus test split."""

import pandas as pd

from absorbprune.jobs import start
from absorbprune.provenance import write_parquet
from absorbprune.tables import CODELINE
from absorbprune.zeroshot import build_codeline

job = start(snakemake, "evaluation")
docs = build_codeline(pd.read_parquet(snakemake.input.corpus), **job.params["codeline"])
seeds = {"codeline": job.params["codeline"]["seed"]}
write_parquet(docs, snakemake.output[0], CODELINE, job.provenance(seeds=seeds))
