# dundi-lab: `make lab up` brings up the seed chain, `make test` runs every test.
# `make help` lists the targets.

SHELL      := /bin/bash
VENV       := .venv
PY         := $(VENV)/bin/python
LAB        := $(VENV)/bin/lab
TOPOLOGY   ?= scenarios/seed-chain.yaml
PYTEST_ARGS ?=
export TESTCONTAINERS_RYUK_DISABLED := true

.DEFAULT_GOAL := help
.PHONY: help lab setup host-packages venv image up down status test test-swarm test-scale unit lint schema clean graph bench

help: ## List the targets
	@grep -hE '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-14s %s\n", $$1, $$2}'

lab: setup ## (prefix) `make lab up|down|status`: installs what is needed first
	@true

setup: host-packages venv ## Install host packages (mmdebstrap, docker compose v2) and the venv

host-packages:
	@bash scripts/install-host-packages.sh

venv: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	python3 -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[test,dev]'
	@touch $@

image: setup ## Build the Asterisk image (skipped when up to date)
	$(LAB) image build --version 22 --version 16

up: setup ## Bring up the lab of TOPOLOGY (default: the seed chain) and show its status
	$(LAB) up $(TOPOLOGY)
	@echo "next: source $(VENV)/bin/activate, then e.g. lab lookup 555000123@network1 --from a; lab call --from a 555000123"

down: setup ## Take the lab down (removes its containers and network)
	$(LAB) down

status: setup ## Show nodes and peer links of the running lab
	$(LAB) status

test: setup image ## Run unit tests and the Docker scenarios (real containers, real calls)
	$(VENV)/bin/pytest -n 4 --dist loadscope --durations=20 $(PYTEST_ARGS)

test-swarm: setup image ## Start 3 more Docker engines, a swarm with this one, a lab over all 4 (root; alone)
	$(VENV)/bin/pytest -m swarm --durations=10 $(PYTEST_ARGS) tests/scenarios/test_swarm_engines.py

test-scale: setup image ## The 200-node scenario: lab generate ring --nodes 200 --lookups (5–11 min)
	$(VENV)/bin/pytest -m scale --durations=10 $(PYTEST_ARGS) tests/scenarios/test_scale.py

unit: venv ## Run the unit tests only (no Docker)
	$(VENV)/bin/pytest tests/unit -q

lint: venv ## ruff check, ruff format --check, mypy --strict (lab, tests, bench); CI runs it first
	$(VENV)/bin/ruff check lab tests bench
	$(VENV)/bin/ruff format --check lab tests bench
	$(VENV)/bin/mypy

schema: venv ## Regenerate scenarios/schema.json from the step kinds
	$(VENV)/bin/python -m lab.scenario.schema > scenarios/schema.json

BENCH_ARGS ?=

bench: setup image $(VENV)/.bench-installed ## Benchmark up/down, lookups, calls (not in `make test`); BENCH_ARGS=--quick|--cold
	$(PY) bench/run.py $(BENCH_ARGS)

$(VENV)/.bench-installed: $(VENV)/.installed pyproject.toml
	$(PY) -m pip install --quiet -e '.[bench]'
	@touch $@

graph: setup ## Redraw docs/seed-chain.svg from the seed chain and print its Mermaid
	$(LAB) graph scenarios/seed-chain.yaml --out docs/seed-chain.svg
	$(LAB) graph scenarios/seed-chain.yaml --format mermaid

clean: ## Take every lab down and remove build/
	-$(LAB) down --all
	rm -rf build
