"""Rule prefetch: download what the configured jobs read (hub models, data set splits, lm-eval task
data) into the Hugging Face cache; the manifest records each model's resolved commit."""

from absorbprune.core.io import write_json
from absorbprune.core.jobs import start
from absorbprune.data.prefetch import prefetch

job = start(snakemake, "prefetch")
p = job.params
manifest = prefetch(
    p["models"],
    p["splits"],
    p["datasets"],
    allow_network=bool(snakemake.config["allow_network"]),
    tasks=p["tasks"],
)
write_json({**manifest, "provenance": job.provenance()}, snakemake.output[0])
