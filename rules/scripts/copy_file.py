"""Rule audit_tokens: copy a file byte for byte (the first seed's calibration set to its audit path)."""

import shutil

from absorbprune.core.jobs import start

start(snakemake, "calibration")
shutil.copyfile(snakemake.input.tokens, snakemake.output[0])
