"""Rule prefetch: download every configured hub model and data set into the Hugging Face cache."""

from absorbprune.core.io import write_json
from absorbprune.core.jobs import start
from absorbprune.data.prefetch import prefetch

job = start(snakemake, "prefetch")
p = job.params
manifest = prefetch(
    p["models"],
    {p["calibration_source"], p["ppl_source"]},
    p["datasets"],
    allow_network=bool(snakemake.config["allow_network"]),
    tasks=p["tasks"],
)
write_json({"fetched": manifest, "provenance": job.provenance()}, snakemake.output[0])
