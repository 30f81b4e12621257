# bgcut-stream: every target installs what it needs itself.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp
KAFKA_STATE := .bgcut/kafka

.PHONY: install lint test test-unit test-integration demo kafka-up kafka-down bench clean

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

test: lint ## Lint, then the whole suite (unit + integration against real Kafka and our server).
	$(BIN)/pytest tests

test-unit: $(STAMP)
	$(BIN)/pytest tests/unit

test-integration: $(STAMP)
	$(BIN)/pytest tests/integration

kafka-up: $(STAMP) ## Start the local Apache Kafka broker on 127.0.0.1:9092.
	$(BIN)/bgcut-stream kafka up --state-dir $(KAFKA_STATE) --port 9092

kafka-down: $(STAMP)
	$(BIN)/bgcut-stream kafka down --state-dir $(KAFKA_STATE)

demo: $(STAMP) ## The main job end to end on embedded defaults.
	$(BIN)/bgcut-stream demo

bench: $(STAMP) ## Benchmarks (ratios measured side by side in one run).
	$(BIN)/python bench/run_all.py

clean:
	-$(BIN)/bgcut-stream kafka down --state-dir $(KAFKA_STATE)
	rm -rf $(VENV) .bgcut .mypy_cache .ruff_cache .pytest_cache
