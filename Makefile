# Clubhouse. The first target you run creates .venv from uv.lock; Python 3.11 is all it needs.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
UV_VERSION := 0.13.9
VENV := .venv
BIN := $(VENV)/bin
SYNCED := $(VENV)/.synced-$(shell cat uv.lock pyproject.toml */pyproject.toml services/*/pyproject.toml | cksum | cut -d' ' -f1)

.PHONY: run test stack lint format bench load generate help
.DEFAULT_GOAL := help

help:
	@echo "make run    - the whole club in one process on http://127.0.0.1:$${PORT:-8080} (docs at /docs)"
	@echo "make test   - every test (PostgreSQL and RabbitMQ found from DATABASE_URL/AMQP_URL or localhost)"
	@echo "make stack  - each service and worker as its own process behind nginx on :8080"
	@echo "make lint   - ruff"
	@echo "make bench  - the benchmarks under bench/, results appended to bench/RESULTS.md"
	@echo "make load   - locust's mix through a stack of its own, 60 s at 100 requests/s (LOAD_ARGS=...)"

$(SYNCED):
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	@test -x $(BIN)/uv || $(BIN)/python -m pip install --quiet uv==$(UV_VERSION)
	$(BIN)/uv sync --frozen --all-packages --python $(BIN)/python
	@rm -f $(VENV)/.synced-* && touch $@

run: $(SYNCED)
	$(BIN)/python -m club_suite

test: $(SYNCED)
	$(BIN)/pytest

stack: $(SYNCED)
	PATH="$(CURDIR)/$(BIN):$$PATH" scripts/stack.sh

lint: $(SYNCED)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: $(SYNCED)
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

# nginx.conf, the Ingress, Procfile.stack and the merged OpenAPI, from the route table.
generate: $(SYNCED)
	$(BIN)/python -m club_gateway.generate

# Every benchmark runs and records its figures even when one before it misses its targets.
bench: $(SYNCED)
	@status=0; for script in bench/*/run.py; do echo "== $$script"; $(BIN)/python $$script || status=1; done; exit $$status

load: $(SYNCED)
	$(BIN)/python bench/load/run.py $(LOAD_ARGS)
