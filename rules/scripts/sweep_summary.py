"""Rule sweep_summary: results/summary/{absorption,drift,findings}.parquet from the per-job tables."""

import pandas as pd

from absorbprune.jobs import start
from absorbprune.provenance import write_parquet
from absorbprune.tables import ABSORPTION, DRIFT, FINDINGS

job = start(snakemake, "summary")
inp, out, prov = snakemake.input, snakemake.output, job.provenance()
for paths, schema, path in (
    (inp.coefficients, ABSORPTION, out.absorption),
    (inp.drift, DRIFT, out.drift),
    (inp.findings, FINDINGS, out.findings),
):
    write_parquet(pd.concat([pd.read_parquet(p) for p in paths], ignore_index=True), path, schema, prov)
