# The two commands of the README: `make demo` and `make test`. Both create .venv on first
# use with nothing but Python >= 3.11 (and make) on the machine.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-$(shell cat pyproject.toml | cksum | cut -d' ' -f1)

.PHONY: demo test test-fast bench bench-scale bench-scale-out bench-soak bench-storage evaluate lint clean help

help:
	@echo "make demo      run Whistle with a simulated fleet (embedded database and broker)"
	@echo "make test      run the whole test suite"
	@echo "make bench     ingest benchmark: Whistle vs a bare paho subscriber vs Node-RED,"
	@echo "               then rules and ingest scale-out and storage (bytes per sample)"
	@echo "make bench-scale  registry at city scale: bulk import, POST /elevators, fleet page"
	@echo "make bench-scale-out  one against two ingesters on a shared subscription"
	@echo "make bench-soak an hour of whistle serve with 2,000 simulated elevators: RSS and CPU"
	@echo "make bench-storage  the storage benchmark alone (bench/results/storage.json)"
	@echo "make evaluate  detection evaluation over 1,000 simulated elevator-hours"
	@echo "make lint      ruff, mypy and the import layers (import-linter)"

$(STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit("Whistle needs Python >= 3.11, found " + sys.version.split()[0]) if sys.version_info < (3, 11) else None'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test]'
	@rm -f $(VENV)/.installed-*
	@touch $(STAMP)

demo: $(STAMP)
	$(BIN)/whistle demo

test: $(STAMP)
	$(BIN)/python -m pytest

test-fast: $(STAMP)
	$(BIN)/python -m pytest -m "not slow"

bench: $(STAMP)
	$(BIN)/python -m bench.ingest
	$(BIN)/python -m bench.rules_scale
	$(BIN)/python -m bench.ingest_scale
	$(BIN)/python -m bench.storage

bench-scale-out: $(STAMP)
	$(BIN)/python -m bench.ingest_scale

bench-soak: $(STAMP)
	$(BIN)/python -m bench.soak

bench-scale: $(STAMP)
	$(BIN)/python -m bench.scale

bench-storage: $(STAMP)
	$(BIN)/python -m bench.storage

evaluate: $(STAMP)
	$(BIN)/whistle evaluate

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/mypy
	$(BIN)/lint-imports

clean:
	rm -rf $(VENV) var .pytest_cache .mypy_cache .ruff_cache
