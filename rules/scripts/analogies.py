"""Rule analogies: the pinned wheel's questions-words.txt -> results/analogies/questions.parquet."""

import dataclasses

from absorbprune.core.io import write_parquet
from absorbprune.core.jobs import start
from absorbprune.data.analogy import read_questions
from absorbprune.data.packaged import ANALOGIES, member_path
from absorbprune.tables.data import ANALOGY_QUESTIONS

job = start(snakemake, "data")
questions = read_questions(member_path(ANALOGIES))
prov = job.provenance(member=dataclasses.asdict(ANALOGIES), n_questions=len(questions))
write_parquet(questions, snakemake.output[0], ANALOGY_QUESTIONS, prov)
