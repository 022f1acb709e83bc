# The two commands: `make demo` and `make test`. Both create .venv and install from the project's files.
PYTHON ?= python3.11
# bash, for PIPESTATUS: the install's output is filtered, its exit status kept.
SHELL := /bin/bash
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# mypy cannot follow the editable install's finder: it reads the folders through links named as installed.
TYPECHECK := .typecheck
FOLDERS := envs agents baselines experiments

.PHONY: demo test lint typecheck bench clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

# The `test` extra brings pytest, hypothesis, ruff, import-linter and mypy (versions pinned in constraints.txt).
$(STAMP): $(BIN)/python pyproject.toml setup.py constraints.txt
	@echo "Installing stocklab and its pinned dependencies into $(VENV) (numpy, simpy, gymnasium, torch CPU,"
	@echo "stable-baselines3, statsmodels, ... from constraints.txt; about 3 minutes the first time):"
	$(BIN)/python -m pip install --progress-bar off -c constraints.txt -e ".[test]" 2>&1 \
		| grep -E --line-buffered "^(Collecting|Successfully installed|ERROR)"; test $${PIPESTATUS[0]} -eq 0
	$(BIN)/python -c "import stocklab.envs, stocklab.experiments"
	@# Bytecode now, so that the CLI starts in under a second even where PYTHONDONTWRITEBYTECODE is set.
	$(BIN)/python -m compileall -q $(FOLDERS)
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/stocklab run configs/quickstart.yaml --jobs 2

test: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/lint-imports
	$(MAKE) --no-print-directory typecheck
	$(BIN)/python -m pytest

# mypy over stocklab.envs and stocklab.baselines with pyproject's [tool.mypy] (mypy_path = .typecheck).
typecheck: $(STAMP)
	mkdir -p $(TYPECHECK)/stocklab
	for d in $(FOLDERS); do ln -sfn ../../$$d $(TYPECHECK)/stocklab/$$d; done
	$(BIN)/mypy -p stocklab.envs -p stocklab.baselines

bench: $(STAMP)
	$(BIN)/stocklab bench throughput

clean:
	rm -rf $(VENV) build *.egg-info $(TYPECHECK) .mypy_cache
