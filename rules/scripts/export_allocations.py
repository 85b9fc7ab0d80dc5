"""Rule export_allocations: every allocation of the grid as JSON (absorbprune.export.records)."""

from pathlib import Path

import pandas as pd

from absorbprune.core.io import write_json
from absorbprune.core.jobs import start
from absorbprune.core.provenance import read_parquet_provenance
from absorbprune.export.records import allocation_record

job = start(snakemake, "export")
linears = {}
for path in snakemake.input.linears:
    table = pd.read_parquet(path)
    linears[table["model"].iloc[0]] = table
by_name = {
    Path(p).with_suffix("").as_posix().split("/allocations/", 1)[1]: p for p in snakemake.input.allocations
}
for out in snakemake.output:
    source = by_name[Path(out).with_suffix("").as_posix().split("/export/allocations/", 1)[1]]
    alloc = pd.read_parquet(source)
    record = allocation_record(alloc, linears[alloc["model"].iloc[0]], read_parquet_provenance(source))
    record["exported"] = job.provenance(source=source)
    write_json(record, out)
