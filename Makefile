# bgcut-stream: every target installs what it needs itself.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp
KAFKA_STATE := .bgcut/kafka
REGISTRY_STATE := .bgcut/registry
TOOLS := .bgcut/tools/bin
HELM_VERSION := v3.19.0
HELM := $(TOOLS)/helm
# Grafana's dashboard linter. v0.2.0 needs github.com/grafana/grafana/apps/dashboard, which some Go
# proxies do not serve; v0.1.1 has the same Prometheus rules. Without a reachable proxy, point
# DASHBOARD_LINTER_SRC at a checkout of github.com/grafana/dashboard-linter (tag v0.1.1).
DASHBOARD_LINTER_VERSION := v0.1.1
DASHBOARD_LINTER := $(TOOLS)/dashboard-linter

.PHONY: install tools lint test test-unit test-integration test-deploy chaos demo kafka-up kafka-down registry-app registry-up registry-down bench compose-up clean

$(STAMP): pyproject.toml constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -c constraints.txt -e '.[server,dev]'
	touch $(STAMP)

install: $(STAMP) ## Create .venv and install the project with its server and dev extras.

lint: $(STAMP) ## ruff + mypy --strict on service/.
	$(BIN)/ruff check service tests bench
	$(BIN)/ruff format --check service tests bench
	$(BIN)/mypy

$(HELM):
	GOBIN=$(abspath $(TOOLS)) go install helm.sh/helm/v3/cmd/helm@$(HELM_VERSION)

$(DASHBOARD_LINTER):
	GOBIN=$(abspath $(TOOLS)) go install github.com/grafana/dashboard-linter@$(DASHBOARD_LINTER_VERSION) \
	  || { test -n "$(DASHBOARD_LINTER_SRC)" && cd "$(DASHBOARD_LINTER_SRC)" && go build -o $(abspath $@) .; } \
	  || echo "warning: dashboard-linter not installed (the Go module proxy refused it and DASHBOARD_LINTER_SRC is unset); its test is skipped" >&2

tools: $(HELM) $(DASHBOARD_LINTER) registry-app ## helm, dashboard-linter (go install), promtool/prometheus and chromium (Debian), playwright-core (npm).
	scripts/install-prometheus.sh
	scripts/install-browser.sh

test: lint tools ## Lint, then the whole suite (unit, integration, deploy, chaos at 200 jobs).
	PATH="$(abspath $(TOOLS)):$$PATH" $(BIN)/pytest tests

test-deploy: $(STAMP) tools
	PATH="$(abspath $(TOOLS)):$$PATH" $(BIN)/pytest tests/deploy

test-unit: $(STAMP)
	$(BIN)/pytest tests/unit

test-integration: $(STAMP)
	$(BIN)/pytest tests/integration

CHAOS_JOBS ?= 2000
chaos: $(STAMP) ## The chaos suite at full size (2000 jobs per scenario); table in .bgcut/chaos-report.md.
	BGCUT_CHAOS_JOBS=$(CHAOS_JOBS) $(BIN)/pytest tests/chaos

kafka-up: $(STAMP) ## Start the local Apache Kafka broker on 127.0.0.1:9092.
	$(BIN)/bgcut-stream kafka up --state-dir $(KAFKA_STATE) --port 9092

kafka-down: $(STAMP)
	$(BIN)/bgcut-stream kafka down --state-dir $(KAFKA_STATE)

registry-app: $(STAMP) ## Resolve the Apicurio Registry app with mvn into ~/.cache/bgcut-stream (once).
	$(BIN)/bgcut-stream registry fetch

registry-up: $(STAMP) ## Start the local Schema Registry (Confluent API) on 127.0.0.1:8081.
	$(BIN)/bgcut-stream registry up --state-dir $(REGISTRY_STATE) --port 8081

registry-down: $(STAMP)
	$(BIN)/bgcut-stream registry down --state-dir $(REGISTRY_STATE)

demo: $(STAMP) ## The main job end to end on embedded defaults.
	$(BIN)/bgcut-stream demo

bench/.venv-rembg/.installed:
	$(PYTHON) -m venv bench/.venv-rembg
	bench/.venv-rembg/bin/pip install -q 'rembg==2.0.*' onnxruntime
	touch $@

bench: $(STAMP) bench/.venv-rembg/.installed ## Benchmarks (ratios measured side by side in one run).
	$(BIN)/python bench/run_all.py

compose-up: ## The laptop stack with Docker: Kafka, our server, the service, Prometheus, Grafana.
	docker compose -f docker/compose.yaml up --build

clean:
	-$(BIN)/bgcut-stream kafka down --state-dir $(KAFKA_STATE)
	-$(BIN)/bgcut-stream registry down --state-dir $(REGISTRY_STATE)
	rm -rf $(VENV) .bgcut .mypy_cache .ruff_cache .pytest_cache
