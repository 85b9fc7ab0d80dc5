"""Summary rules: concatenate per-job Parquet tables (same declared schema) into one.

For each named output, the input list of the same name is concatenated.
"""

import pyarrow as pa
import pyarrow.parquet as pq

from absorbprune.core.io import write_parquet
from absorbprune.core.jobs import start

job = start(snakemake, "summary")
inp, out = snakemake.input, snakemake.output
for name in out.keys():
    tables = [pq.read_table(path) for path in inp[name]]
    schema = tables[0].schema.remove_metadata()
    table = pa.concat_tables([t.replace_schema_metadata(None) for t in tables]).to_pandas()
    write_parquet(table, out[name], schema, job.provenance())
