# Omni MCP Platform. The work is in scripts/ (bash): every step checks first and acts only when
# something is missing, so re-runs are fast.
SHELL := /bin/bash
PORT ?= 8000
ARGS ?=
export PORT ARGS

.PHONY: help run test setup services lint ci

help:  ## List the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | sed -E 's/:.*## /\t/'

run:  ## Set up (apt, .venv, pip, migrate, seed_demo) and serve on 127.0.0.1:$(PORT), printing URL, login, key, client config
	@scripts/run.sh

test:  ## Set up, start PostgreSQL + Redis (installing them if needed) and run the whole suite; ARGS="-k foo" for pytest
	@scripts/test.sh

setup:  ## Only the Python side: interpreter, .venv, pip install -r requirements.txt
	@source scripts/lib.sh && ensure_python_env

services:  ## Only the test services; prints DATABASE_URL and REDIS_URL exports
	@scripts/services.sh

lint: setup  ## ruff check and format check
	@.venv/bin/ruff check . && .venv/bin/ruff format --check .

ci:  ## What CI runs (.ci/run)
	@.ci/run
