# pl_eval: `make run` runs the workflow on the demo cohort, `make test` runs the test suite.
SHELL := /bin/bash
.DEFAULT_GOAL := help

PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
COHORT ?= demo
# COHORT="2013-2014 2014-2015" runs several cohorts, with a combined report.
comma := ,
COHORTS := [$(subst $(eval) ,$(comma),$(strip $(COHORT)))]
CORES ?= 2
# Memory, MB, that the jobs of make run may ask for together (each heavy rule asks for its
# inputs' size times a measured factor: workflow/rules/common.smk MEMORY); a job asking more
# runs alone. Three quarters of the machine's memory, and never under 2,800 MB: on 2 cores the
# one-year national cohort peaks at 2.9 GB with any budget (two 1.35 GB ingests side by side),
# while the three-year study's heavy jobs (1.6-3 GB each) ran one at a time under 2,800 MB and
# took 376 s against 294-316 s on a 24 GB machine. MEM_MB=2800 keeps any cohort's jobs to
# about 3 GB together on a small machine. Not in profiles/default: Snakemake applies that workflow
# profile over profiles/slurm too, whose jobs it would shrink.
MEM_MB ?= $(shell $(PYTHON) -c 'import os; total = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES"); print(max(2800, total * 3 // 4 // 2**20))' 2>/dev/null || echo 2800)
# make test runs test files in parallel, one pytest-xdist worker per core (TEST_WORKERS=0: serially).
TEST_WORKERS ?= auto
# Workflow rules call the pl-eval command: the one installed in .venv.
export PATH := $(CURDIR)/$(BIN):$(PATH)

.PHONY: help run check-inputs test bench lint clean

help: ## Show the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-13s %s\n", $$1, $$2}'
	@echo "  (make run COHORT=<name> runs data/raw/<name>/; COHORT=\"<a> <b>\" runs several)"

$(STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 11))' \
		|| { echo "pl_eval needs Python >= 3.11 (found $$($(PYTHON) --version 2>&1)); set PYTHON=..."; exit 1; }
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $@

# workflow/run.py starts Snakemake after removing the lock a killed run left (never while
# another run is going on), so `make run` alone picks up after a kill.
run: $(STAMP) ## Run the whole workflow on the demo cohort (or COHORT=<name>)
	$(BIN)/python workflow/run.py --profile profiles/default --cores $(CORES) --config 'cohorts=$(COHORTS)' \
		--resources mem_mb=$(MEM_MB)

check-inputs: $(STAMP) ## Check data/raw/<COHORT>/ against the input contract, running nothing
	@status=0; for cohort in $(COHORT); do $(BIN)/pl-eval check-inputs $$cohort || status=1; done; exit $$status

# --dist loadfile: each file's tests run in one worker, so a module's fixture (a workflow run, a
# processed demo cohort) is built once, and the Slurm tests' one cluster is used by one worker.
test: $(STAMP) ## Run the test suite
	$(BIN)/python -m pytest -n $(TEST_WORKERS) --dist loadfile

bench: $(STAMP) ## Run the speed and memory benchmarks and print their tables
	MEM_MB=$(MEM_MB) $(BIN)/python benchmarks/run.py

lint: $(STAMP) ## ruff and snakemake --lint
	$(BIN)/ruff check src tests benchmarks workflow/run.py
	$(BIN)/ruff format --check src tests benchmarks workflow/run.py
	$(BIN)/snakemake --lint

clean: ## Remove processed data, reports and logs (never data/raw)
	rm -rf data/processed/*/ reports/*/ logs/ .snakemake/
