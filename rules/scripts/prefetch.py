"""Rule prefetch: download every configured hub model and data set into the Hugging Face cache."""

from absorbprune.jobs import start
from absorbprune.prefetch import prefetch
from absorbprune.provenance import write_json

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
