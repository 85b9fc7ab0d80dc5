"""Rule paper_claims: each claim of the abstract, what this run measured, and whether it holds."""

import pandas as pd

from absorbprune.aggregate import paper_claims
from absorbprune.jobs import start
from absorbprune.provenance import write_parquet
from absorbprune.tables import PAPER_CLAIMS

job = start(snakemake, "aggregate")
inp = snakemake.input
claims = paper_claims(pd.read_parquet(inp.findings), pd.read_parquet(inp.headline), job.params["sparsity"])
write_parquet(claims, snakemake.output[0], PAPER_CLAIMS, job.provenance())
