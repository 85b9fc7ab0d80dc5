"""Rule wikipedia: the pinned wheels' Wikipedia text -> results/wiki2016/{valid,test}.parquet,
results/wikileads/train.parquet and results/wiki2016/info.json (what was kept and dropped)."""

import dataclasses

from absorbprune.core.io import write_json, write_parquet
from absorbprune.core.jobs import start
from absorbprune.data.packaged import WIKI2016_DUMP, WIKILEADS_JSON, member_path
from absorbprune.data.wikipedia import WIKI2016_SPLITS, build_wiki2016, build_wikileads
from absorbprune.tables.data import ARTICLES

job = start(snakemake, "data")
frames, titles, wiki_info = build_wiki2016(member_path(WIKI2016_DUMP))
leads, leads_info = build_wikileads(member_path(WIKILEADS_JSON), titles)
info = {"wiki2016": dataclasses.asdict(wiki_info), "wikileads": dataclasses.asdict(leads_info)}
prov = job.provenance(wikipedia=info)
for split, path in zip(WIKI2016_SPLITS, snakemake.output.wiki2016, strict=True):
    write_parquet(frames[split], path, ARTICLES, prov)
write_parquet(leads, snakemake.output.wikileads, ARTICLES, prov)
write_json(info, snakemake.output.info)
