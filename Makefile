# meterkit: two commands to get going.
#   make demo   builds .venv, installs meterkit, runs the main demo (the FAQ's 141 kW vs 157 kW example)
#   make test   builds .venv with test extras, runs ruff, mypy and the whole test suite
#   make docs   builds the documentation site (site/) from README.md and docs/ with MkDocs (strict: no broken link)
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
PYTEST_ARGS ?= -n 2 --dist loadfile

.PHONY: demo test lint typecheck pytest bench docs clean fuzz fuzz-port fuzz-faults

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
	$(BIN)/ruff check src tests benchmarks scripts fuzz
	$(BIN)/ruff format --check src tests benchmarks scripts fuzz

typecheck: $(VENV)/.installed-test
	$(BIN)/mypy

pytest: $(VENV)/.installed-test
	bash scripts/ensure-mosquitto.sh
	bash scripts/ensure-chromium.sh
	$(BIN)/pytest $(PYTEST_ARGS)

test: lint typecheck pytest

# all the fuzzing, outside make test: the served meter over TCP and a pty (10^6 inputs, bounded), then fuzz-faults
FUZZ_ARGS ?= --inputs 1000000 --seconds 900
fuzz: fuzz-port fuzz-faults

fuzz-port: $(VENV)/.installed-test
	$(BIN)/python scripts/fuzz_port.py $(FUZZ_ARGS)

docs: $(VENV)/.installed-test
	NO_MKDOCS_2_WARNING=1 $(BIN)/mkdocs build --strict

bench: $(VENV)/.installed-test
	@for b in benchmarks/bench_*.py; do echo "== $$b"; $(BIN)/python $$b || exit 1; done

# faults (#15), outside `make test`: byte-level fuzzers of the decoder and the hand-held side (10^6 inputs each, at
# most 10 minutes each) and the kill -9 loop (100 kills of serve --replay --state, at most 15 minutes)
fuzz-faults: $(VENV)/.installed-test
	$(BIN)/python fuzz/fuzz_decoder.py --inputs 1000000 --seconds 600
	$(BIN)/python fuzz/fuzz_client.py --inputs 1000000 --seconds 600
	$(BIN)/python fuzz/kill_loop.py --kills 100 --seconds 900

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache .hypothesis site
