# Everything a fresh machine needs comes from here: the venv, the package, the test extras.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
DEMO := etc/pyinetd.demo.conf

.PHONY: run test lint bench clean

$(BIN)/pyinetd: pyproject.toml
	$(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e .
	touch $@

$(VENV)/.test-extras: pyproject.toml $(BIN)/pyinetd
	$(BIN)/pip install -q -e '.[test]'
	touch $@

run: $(BIN)/pyinetd
	$(BIN)/pyinetd -d $(DEMO)

lint: $(VENV)/.test-extras
	$(BIN)/ruff check src tests bench
	$(BIN)/mypy src

test: lint
	$(BIN)/pytest -q

bench: $(BIN)/pyinetd
	$(BIN)/python bench/run.py

clean:
	rm -rf $(VENV) build src/*.egg-info
