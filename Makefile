# meterkit: two commands to get going.
#   make demo   builds .venv, installs meterkit, runs the main demo (the FAQ's 141 kW vs 157 kW example)
#   make test   builds .venv with test extras, runs ruff, mypy and the whole test suite
#   make docs   builds the documentation site (site/) from README.md and docs/ with MkDocs (strict: no broken link)
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
PYTEST_ARGS ?= -n 2 --dist loadfile

.PHONY: demo test lint typecheck pytest bench docs clean fuzz

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e .
	touch $@

$(VENV)/.installed-test: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $(VENV)/.installed $@

demo: $(VENV)/.installed
	$(BIN)/meterkit demo

lint: $(VENV)/.installed-test
	$(BIN)/ruff check src tests benchmarks scripts
	$(BIN)/ruff format --check src tests benchmarks scripts

typecheck: $(VENV)/.installed-test
	$(BIN)/mypy

pytest: $(VENV)/.installed-test
	bash scripts/ensure-mosquitto.sh
	bash scripts/ensure-chromium.sh
	$(BIN)/pytest $(PYTEST_ARGS)

test: lint typecheck pytest

# byte-level fuzzing of the served meter over TCP and a pty (10^6 inputs, bounded; not part of make test)
FUZZ_ARGS ?= --inputs 1000000 --seconds 900
fuzz: $(VENV)/.installed-test
	$(BIN)/python scripts/fuzz_port.py $(FUZZ_ARGS)

docs: $(VENV)/.installed-test
	NO_MKDOCS_2_WARNING=1 $(BIN)/mkdocs build --strict

bench: $(VENV)/.installed-test
	@for b in benchmarks/bench_*.py; do echo "== $$b"; $(BIN)/python $$b || exit 1; done

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache .hypothesis site
