"""Summary rules: concatenate per-job Parquet tables (same declared schema) into one.

A rule with named outputs concatenates, for each output name, the input list of the same name.
"""

import pyarrow as pa
import pyarrow.parquet as pq

from absorbprune.jobs import start
from absorbprune.provenance import write_parquet

job = start(snakemake, "summary")
inp, out = snakemake.input, snakemake.output
for name in list(out.keys()) or [None]:
    tables = [pq.read_table(path) for path in (inp[name] if name else inp)]
    schema = tables[0].schema.remove_metadata()
    table = pa.concat_tables([t.replace_schema_metadata(None) for t in tables]).to_pandas()
    write_parquet(table, out[name] if name else out[0], schema, job.provenance())
