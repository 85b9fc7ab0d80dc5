"""Rule convert_gguf: dequantize a GGUF file once -> results/models/{model}/ + conversion summary
(a chunked file is assembled next to the summary, sha256-checked, and removed after)."""

from pathlib import Path

import pandas as pd

from absorbprune.core.io import write_parquet
from absorbprune.core.jobs import start
from absorbprune.models.files import save_model_dir
from absorbprune.models.gguf import convert_source
from absorbprune.tables.models import CONVERSION

job = start(snakemake, "models")
workdir = Path(snakemake.output.summary).parent
model, tokenizer, row, record = convert_source(snakemake.wildcards.model, job.params["model"], workdir)
prov = job.provenance(gguf=record)
row["weights_sha256"] = save_model_dir(model, tokenizer, snakemake.output.model, prov)
prov["weights_sha256"] = row["weights_sha256"]
write_parquet(pd.DataFrame([row]), snakemake.output.summary, CONVERSION, prov)
