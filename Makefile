# Ownstream: `make run` starts everything, `make test` runs the whole suite.
SHELL := /bin/bash
UV ?= $(shell command -v uv 2>/dev/null || echo python3 -m uv)
PYTEST_WORKERS ?= 4
VENDOR := services/api/static/vendor

.PHONY: run test setup system python assets services lint bench clean

run: setup services
	$(UV) run ownstream up

test: setup services
	bash deploy/debian-packages test
	$(UV) run pytest -n $(PYTEST_WORKERS) --dist loadfile

setup: system python assets

# PostgreSQL, Redis, Mosquitto and npm from apt-get when missing (deploy/debian-packages says what and how)
system:
	bash deploy/debian-packages run

# Bytecode is compiled here, once: with PYTHONDONTWRITEBYTECODE set (as on CI machines) every process would
# otherwise compile FastAPI, SQLAlchemy and the rest from source at each start (~5 s of CPU on 2 cores).
python:
	@python3 -m uv --version >/dev/null 2>&1 || command -v uv >/dev/null 2>&1 || \
	  python3 -m pip install --quiet uv 2>/dev/null || python3 -m pip install --quiet --user --break-system-packages uv
	$(UV) sync --frozen --compile-bytecode
	$(UV) run python -m compileall -q -j 0 services shared tests bench

assets: $(VENDOR)/uPlot.iife.min.js

$(VENDOR)/uPlot.iife.min.js: package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error
	mkdir -p $(VENDOR)
	cp node_modules/uplot/dist/uPlot.iife.min.js node_modules/uplot/dist/uPlot.min.css $(VENDOR)/
	cp node_modules/swagger-ui-dist/swagger-ui-bundle.js node_modules/swagger-ui-dist/swagger-ui.css $(VENDOR)/

services:
	$(UV) run ownstream local services

# ruff lint + format check over the Python tree, then mypy (config: pyproject.toml [tool.mypy]).
lint:
	$(UV) run ruff check services shared tests bench
	$(UV) run ruff format --check services shared tests bench
	$(UV) run mypy

# Every benchmark, then BENCHMARKS.md (QUICK=1: small sizes, one run). Needs PostgreSQL, Redis and Mosquitto.
bench: setup services
	$(UV) run --group bench python -m bench.run $(if $(QUICK),--quick)

clean:
	rm -rf .venv node_modules $(VENDOR)
