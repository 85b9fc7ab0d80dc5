"""Rule convert_gguf: dequantize a GGUF file once -> results/models/{model}/ + conversion summary."""

import pandas as pd

from absorbprune.core.io import write_parquet
from absorbprune.core.jobs import start
from absorbprune.models.files import save_model_dir
from absorbprune.models.gguf import conversion_row, convert_gguf
from absorbprune.tables.models import CONVERSION

job = start(snakemake, "models")
family, key, gguf = job.params["model"]["family"], snakemake.wildcards.model, snakemake.input.gguf
model, tokenizer, info = convert_gguf(gguf, key, family)
row = conversion_row(key, family, gguf, info, model)
prov = job.provenance(gguf={k: row[k] for k in ("gguf_file", "gguf_sha256", "file_type", "tensor_types")})
row["weights_sha256"] = save_model_dir(model, tokenizer, snakemake.output.model, prov)
prov["weights_sha256"] = row["weights_sha256"]
write_parquet(pd.DataFrame([row]), snakemake.output.summary, CONVERSION, prov)
