# alignx-pipeline. `make build-dataset` and `make test` set up .venv themselves on a fresh clone.
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
ALIGNX := $(BIN)/alignx
STAGE ?=
ARGS ?=

.PHONY: build-dataset test test-fast lint figures stage bench reliability ray-cluster clean status help annotator

help:
	@echo "make build-dataset   run every stage in order on the configured inputs (demo corpus by default)"
	@echo "make test            ruff, then every test: the fast tier and the end-to-end tier (what CI runs)"
	@echo "make test-fast       ruff, then the fast tier only (in-process tests: no subprocess, no build)"
	@echo "make figures         regenerate docs/figures.md from bench/results/*.json"
	@echo "make stage STAGE=x   rerun one stage, forced"
	@echo "make status          show which stages are up to date"
	@echo "make bench           run the benchmarks; results in bench/results/"
	@echo "make annotator       refit the offline annotator's learned instrument from the labels (byte-identical)"
	@echo "make reliability     kill every stage mid-way and check reruns give the same release"
	@echo "make ray-cluster     start a 3-node Ray cluster here (ray start), build on it and locally, compare the releases"
	@echo "make clean           remove data/work and data/release (keeps data/raw and data/private)"

# Reinstall when the project's dependency list changes.
$(STAMP): pyproject.toml
	@command -v $(PYTHON) >/dev/null || { echo "need $(PYTHON) (Python 3.11) on PATH"; exit 1; }
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet torch==2.13.0
	$(BIN)/pip install --quiet -e '.[test]'
	@touch $(STAMP)

# The build reads a copy of the Reddit inputs with canaries planted (synthetic names, emails,
# phones, addresses, profile links, a username); the audit fails if any reaches the release.
build-dataset: $(STAMP)
	$(ALIGNX) run --canaries $(ARGS)
	$(ALIGNX) status --canaries $(ARGS)
	$(ALIGNX) audit-privacy $(ARGS)

stage: $(STAMP)
	@test -n "$(STAGE)" || { echo "usage: make stage STAGE=<name>"; exit 2; }
	$(ALIGNX) run $(STAGE) --force $(ARGS)

status: $(STAMP)
	$(ALIGNX) status $(ARGS)

lint: $(STAMP)
	$(BIN)/ruff check .

# Two tiers (README, *Tests*): tests marked e2e run the command line in a subprocess or build a
# dataset; the rest run in-process. `make test` is what CI (.ci/run) and the README run, on
# TEST_WORKERS pytest-xdist workers (0: one process), a test file per worker at a time, so a
# module's shared build is made once; the session's demo build is made once for all workers.
TEST_WORKERS ?= 2
test: lint
	$(BIN)/python -m pytest -q -n $(TEST_WORKERS) --dist loadfile $(ARGS)

test-fast: lint
	$(BIN)/python -m pytest -q -m "not e2e" $(ARGS)

bench: $(STAMP)
	$(BIN)/python -m bench $(ARGS)
	$(BIN)/python scripts/make_figures.py

# The one page of measured figures, generated from bench/results/ (a test checks it is current).
figures: $(STAMP)
	$(BIN)/python scripts/make_figures.py

# The learned instrument from data/validation's train (fit) and dev (thresholds) splits; the
# same labels give the same bytes. Then `alignx validate-annotator` measures it on test.
annotator: $(STAMP)
	$(BIN)/python scripts/fit_learned_annotator.py

reliability: $(STAMP)
	$(BIN)/python scripts/reliability.py

# A head and two workers started with `ray start` on this machine (loopback only), the demo
# build submitted to them and run locally: the releases must be byte-identical. About 2 minutes
# on 2 cores, so not in `make test`; results in bench/results/ray_cluster.json.
ray-cluster: $(STAMP)
	$(BIN)/python scripts/ray_cluster_check.py $(ARGS)
	$(BIN)/python scripts/make_figures.py

clean:
	rm -rf data/work data/release
