# Two commands set everything up: `make demo` and `make test` (see README.md).
SHELL := /bin/bash
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp

export RETAIL_LAKE ?= $(CURDIR)/.retail
export DAGSTER_HOME ?= $(CURDIR)/.dagster_home
SAMPLE_DIR ?= $(CURDIR)/sample_data
WEEKS ?= 12
BASKETS_PER_WEEK ?= 4000
API_PORT ?= 8000
UI_PORT ?= 3000

.PHONY: install sample-data pipeline demo serve ui test bench clean

install: $(STAMP)

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e ".[test]"
	@touch $(STAMP)

sample-data: $(STAMP)
	$(BIN)/retail-mlops sample-data --out $(SAMPLE_DIR) --weeks $(WEEKS) --baskets-per-week $(BASKETS_PER_WEEK)

## pipeline: sample data + the whole graph materialized locally, no servers (for scripts)
pipeline: sample-data
	$(BIN)/retail-mlops materialize --landing $(SAMPLE_DIR)

## demo: pipeline, then the API and the Dagster UI until Ctrl-C
demo: pipeline
	@API_PORT=$(API_PORT) UI_PORT=$(UI_PORT) BIN=$(BIN) scripts/demo.sh

serve: $(STAMP)
	$(BIN)/retail-mlops serve --port $(API_PORT)

ui: $(STAMP) $(DAGSTER_HOME)/dagster.yaml
	$(BIN)/dagster dev -w workspace.yaml -h 127.0.0.1 -p $(UI_PORT)

$(DAGSTER_HOME)/dagster.yaml:
	@mkdir -p $(DAGSTER_HOME)
	@echo "# Dagster instance settings; empty = SQLite storage in this directory." > $@

test: $(STAMP)
	$(BIN)/python -m pytest

bench: $(STAMP)
	@for script in bench/bench_*.py; do echo "== $$script"; $(BIN)/python $$script || exit 1; done

clean:
	rm -rf .retail .dagster_home sample_data
