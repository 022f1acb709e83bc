# The two commands: `make demo` and `make test`. Both create .venv and install from the project's files.
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test lint bench clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

$(STAMP): $(BIN)/python pyproject.toml setup.py constraints.txt
	$(BIN)/python -m pip install --quiet -c constraints.txt -e ".[test]"
	$(BIN)/python -c "import stocklab.envs, stocklab.experiments"
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/stocklab run configs/quickstart.yaml --jobs 2

test: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/python -m pytest

bench: $(STAMP)
	$(BIN)/stocklab bench throughput

clean:
	rm -rf $(VENV) build *.egg-info
