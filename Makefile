# sync_pipeline — the two commands a new user needs are `make demo` and `make test`.
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
export DAGSTER_HOME := $(CURDIR)/.dagster_home

# Credentials of the local sandbox systems (not secrets; production uses real EnvVars).
SANDBOX_ENV := SYNC_PIPELINE_MODE=sandbox HARVEST_ACCESS_TOKEN=sandbox-harvest-token XERO_CLIENT_ID=sandbox-client XERO_CLIENT_SECRET=sandbox-secret

# After `make demo`: its configuration (three entities, their bank statements) and its admin token
DEMO_CONFIG := $(if $(wildcard data/demo/mapping.yaml),SYNC_PIPELINE_MAPPING=$(CURDIR)/data/demo/mapping.yaml SYNC_PIPELINE_RECONCILIATION=$(CURDIR)/data/demo/reconciliation.yaml SYNC_PIPELINE_FINANCE=$(CURDIR)/data/demo/finance.yaml SYNC_PIPELINE_STATEMENTS_DIR=$(CURDIR)/data/statements,)

.PHONY: demo test test-full mutation dev sandbox workbench install lint clean

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	@touch $(STAMP)

install: $(STAMP)

demo: $(STAMP)  ## the whole product on the demo group (three entities, 2026-08..10, statements), a summary
	$(BIN)/sync-pipeline demo

test: $(STAMP)  ## the whole test suite (heavy suites excluded), under 10 minutes, on two workers
	$(BIN)/python -m pytest -q -n 2 --durations=15

test-full: $(STAMP)  ## everything, including chaos repetitions and large benches
	HYPOTHESIS_PROFILE=long $(BIN)/python -m pytest -q -m ''

mutation: $(STAMP)  ## mutation testing of the domain core (MODULE=billing: one module); not part of `make test`
	$(BIN)/mutmut run --max-children 2 $(if $(MODULE),"sync_pipeline.domain.$(MODULE).*")
	$(BIN)/python -m sync_pipeline_tests.domain.mutation_score

# make dev EVENT_LOG=info (or debug): every run event and service line in the terminal again
EVENT_LOG ?= warning

dev: $(STAMP)  ## Dagster UI on the demo's instance, with the sandbox running alongside (quiet terminal)
	@$(BIN)/python -m sync_pipeline.defs.instance $(DAGSTER_HOME) >/dev/null
	umask 077; $(BIN)/sync-pipeline sandbox up & SANDBOX_PID=$$!; \
	trap "kill $$SANDBOX_PID" EXIT INT TERM; \
	SYNC_PIPELINE_EVENT_LOG=$(EVENT_LOG) $(SANDBOX_ENV) $(DEMO_CONFIG) $(BIN)/dagster dev --log-level $(EVENT_LOG) -w workspace.yaml

workbench: $(STAMP)  ## the accountants' workbench on the demo's data (after make demo), http://127.0.0.1:8740 (the QBO sandbox has 8750)
	SYNC_PIPELINE_TOKEN=$${SYNC_PIPELINE_TOKEN:-$$(cat data/demo/admin.token 2>/dev/null)} $(DEMO_CONFIG) \
	$(BIN)/sync-pipeline workbench --port 8740 --insecure-cookies --no-settle

sandbox: $(STAMP)  ## only the sandbox systems, until Ctrl-C
	$(BIN)/sync-pipeline sandbox up

lint: $(STAMP)
	$(BIN)/ruff check sync_pipeline sync_pipeline_tests

clean:
	rm -rf data .dagster_home
