# The two commands of the README's quick start, plus their parts.
#   make lab   set everything up, then open JupyterLab on the tour notebook
#   make test  set everything up, then lint and run the whole test suite
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin

.PHONY: setup lab test lint format bench clean

setup:
	$(PYTHON) scripts/setup.py --venv $(VENV) --extras ui,dev

lab: setup
	$(BIN)/vizlab lab

lint: setup
	$(BIN)/ruff format --check .
	$(BIN)/ruff check .

format: setup
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

test: lint
	$(BIN)/python -m pytest $(PYTEST_ARGS)

bench: setup
	$(BIN)/python benchmarks/fit_time.py

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache *.egg-info
