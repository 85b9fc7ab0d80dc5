"""Rule paper_claims: each claim of the abstract, what this run measured, and whether it holds."""

import pandas as pd

from absorbprune.core.io import write_parquet
from absorbprune.core.jobs import start
from absorbprune.reporting.claims import paper_claims
from absorbprune.tables.summary import PAPER_CLAIMS

job = start(snakemake, "aggregate")
inp = snakemake.input
findings, headline, readings = (pd.read_parquet(inp[k]) for k in ("findings", "headline", "readings"))
claims = paper_claims(findings, headline, job.params["sparsity"], readings)
write_parquet(claims, snakemake.output[0], PAPER_CLAIMS, job.provenance())
