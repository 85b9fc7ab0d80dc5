"""Summary rules: concatenate per-job Parquet tables (same declared schema) into one."""

import pyarrow as pa
import pyarrow.parquet as pq

from absorbprune.jobs import start
from absorbprune.provenance import write_parquet

job = start(snakemake, "summary")
tables = [pq.read_table(path) for path in snakemake.input]
schema = tables[0].schema.remove_metadata()
table = pa.concat_tables([t.replace_schema_metadata(None) for t in tables]).to_pandas()
write_parquet(table, snakemake.output[0], schema, job.provenance())
