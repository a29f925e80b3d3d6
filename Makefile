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
PROFILE ?= default
API_PORT ?= 8000
UI_PORT ?= 3000

TOOLS := .venv-tools
TOOLS_STAMP := $(TOOLS)/.installed-stamp
CHECKOV_VERSION := 3.3.30
UV_VERSION := 0.13.8
TF_PROD := infra/envs/prod

.PHONY: install tools lock-dev lock-images sample-data pipeline pipeline-aws demo serve ui test bench bench-serve bench-ingest clean destroy

install: $(STAMP)

# constraints.txt fixes every package's version (`make lock-dev` writes it from pyproject.toml's
# pins): pip resolves in well under a minute instead of two, and every machine gets what CI ran.
$(STAMP): pyproject.toml constraints.txt
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet --constraint constraints.txt -e ".[test]"
	@touch $(STAMP)

## lock-dev: rewrite constraints.txt after a pin or a dependency changes in pyproject.toml
lock-dev: $(TOOLS_STAMP)
	$(TOOLS)/bin/uv pip compile pyproject.toml --extra test --quiet --python-version 3.11 \
	  --python-platform x86_64-manylinux_2_28 --custom-compile-command "make lock-dev" -o constraints.txt

sample-data: $(STAMP)
	$(BIN)/retail-mlops sample-data --out $(SAMPLE_DIR) --weeks $(WEEKS) --baskets-per-week $(BASKETS_PER_WEEK) --profile $(PROFILE)

## pipeline: sample data + the whole graph materialized locally, no servers (for scripts)
pipeline: sample-data
	$(BIN)/retail-mlops materialize --landing $(SAMPLE_DIR)

## pipeline-aws: the same graph with RETAIL_MODE=aws against moto's S3 on this machine (no AWS account)
pipeline-aws: sample-data
	@BIN=$(BIN) SAMPLE_DIR=$(SAMPLE_DIR) scripts/pipeline_aws.sh

## demo: pipeline, then the API and the Dagster UI until Ctrl-C
demo: pipeline
	@API_PORT=$(API_PORT) UI_PORT=$(UI_PORT) BIN=$(BIN) scripts/demo.sh

serve: $(STAMP)
	$(BIN)/retail-mlops serve --port $(API_PORT)

# One planned event per asset and batched materializations, as `retail-mlops materialize` does
# (retail_assets/event_volume.py): the daemon creates the sensors' runs, so it needs them too.
ui demo: export DAGSTER_EMIT_PARTITION_SUBSET_IN_PLANNED_EVENTS ?= true
ui demo: export DAGSTER_EVENT_BATCH_SIZE ?= 1000
ui: $(STAMP) $(DAGSTER_HOME)/dagster.yaml
	$(BIN)/dagster dev -w workspace.yaml -h 127.0.0.1 -p $(UI_PORT)

# SQLite storage in DAGSTER_HOME, a step's materializations written in one go (README, "The lake");
# the same file `retail-mlops materialize` writes into a new home. An existing file is left as it is.
$(DAGSTER_HOME)/dagster.yaml: | $(STAMP)
	@mkdir -p $(DAGSTER_HOME)
	@$(BIN)/python -c "import sys, pathlib; from retail_assets.event_store import instance_settings; \
		pathlib.Path(sys.argv[1]).write_text(instance_settings(pathlib.Path(sys.argv[2])))" $@ $(DAGSTER_HOME)

# Two workers, one test file to each at a time (CI has 2 cores; most of the suite waits on servers
# and subprocesses). TEST_WORKERS=0 runs it in one process.
TEST_WORKERS ?= 2
test:
	@# The project's and the tools' virtualenvs install side by side: a fresh clone waits for the longer only.
	@$(MAKE) --no-print-directory -j2 $(STAMP) $(TOOLS_STAMP)
	$(BIN)/python -m pytest -n $(TEST_WORKERS) --dist loadfile --no-loadscope-reorder --durations=15

## tools: checkov in its own venv (its pins clash with the project's) and uv for the image locks
tools: $(TOOLS_STAMP)

$(TOOLS_STAMP): Makefile
	@test -x $(TOOLS)/bin/python || $(PYTHON) -m venv $(TOOLS)
	$(TOOLS)/bin/python -m pip install --quiet --upgrade pip
	$(TOOLS)/bin/python -m pip install --quiet checkov==$(CHECKOV_VERSION) uv==$(UV_VERSION)
	@touch $@

## lock-images: regenerate the images' hashed requirement locks after a pin changes
lock-images: $(TOOLS_STAMP)
	@for image in api dagster training; do \
	  $(TOOLS)/bin/uv pip compile deploy/docker/$$image-requirements.txt --generate-hashes --quiet \
	    --python-version 3.11 --python-platform x86_64-manylinux_2_28 --only-binary :all: \
	    --custom-compile-command "make lock-images" -o deploy/docker/$$image-requirements.lock || exit 1; \
	done

bench: $(STAMP)
	@for script in bench/bench_*.py; do echo "== $$script"; $(BIN)/python $$script || exit 1; done

## bench-ingest: landing -> features through the real assets vs the CSV parse floor and pandas (~3 M rows; see bench/README.md)
bench-ingest: $(STAMP)
	$(BIN)/python bench/ingest.py

## bench-serve: the API under wrk vs a naive FastAPI + pandas + scikit-learn service (needs wrk; see bench/README.md)
bench-serve: $(STAMP)
	$(BIN)/python bench/serve.py

clean:
	rm -rf .retail .dagster_home .dagster_home_aws sample_data

## destroy: tear down the AWS platform of docs/deploy.md (asks first). Never run by tests or CI.
destroy:
	@account=$$(aws sts get-caller-identity --query Account --output text) || exit 1; \
	echo "DELETES retail-mlops in account $$account (ap-southeast-1): EKS, the lake with EVERY object version,"; \
	echo "ECR images, logs, the trail, and the Dagster database (a final snapshot is kept)."; \
	read -r -p "Type the account id to confirm: " answer; [ "$$answer" = "$$account" ] || { echo aborted; exit 1; }
	-kubectl -n retail delete ingress retail-api --ignore-not-found --wait=true --timeout=10m
	-helm uninstall dagster --namespace dagster --wait
	terraform -chdir=$(TF_PROD) apply -var teardown=true -auto-approve \
	  -target=module.lake.aws_s3_bucket.lake -target=module.audit.aws_s3_bucket.access_logs \
	  -target=module.audit.aws_s3_bucket.trail -target=module.ecr.aws_ecr_repository.this \
	  -target=module.database.aws_db_instance.this
	terraform -chdir=$(TF_PROD) destroy -var teardown=true
