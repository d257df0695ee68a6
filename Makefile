# Two commands on a fresh machine: `make run` (the product with demo data) and
# `make test` (the whole suite). Both install what they need first.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMPS := .make
PORT ?= 5000
HOST ?= 127.0.0.1
WEB_PROCESSES ?= 4
JOB_WORKERS ?= 1
export FLASK_APP := wsgi
export PYTHONPATH := $(CURDIR)

.PHONY: setup run test test-sqlite test-postgresql serve worker build i18n chromium bench load clean

setup: $(STAMPS)/venv $(STAMPS)/npm build

$(STAMPS)/venv: requirements.txt
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --disable-pip-version-check -r requirements.txt
	@mkdir -p $(STAMPS) && touch $@

$(STAMPS)/npm: package.json package-lock.json
	@command -v npm >/dev/null || (apt-get update && apt-get install -y nodejs npm)
	npm ci --no-audit --no-fund --loglevel=error
	@mkdir -p $(STAMPS) && touch $@

# Front-end bundles (esbuild) and compiled translations: build output, never committed.
build: $(STAMPS)/venv $(STAMPS)/npm
	node static/build.mjs
	$(BIN)/python tools/i18n.py compile

# Debian's Chromium for the browser tests (Playwright never downloads its own browser).
chromium:
	@command -v chromium >/dev/null || (apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y chromium fonts-noto-cjk)

run: setup
	$(BIN)/flask db upgrade
	$(BIN)/flask demo
	@echo "Open http://$(HOST):$(PORT)/  — demo logins (password demo1234): admin, sales1, sales2, fj_head, med_reviewer, manager"
	@$(BIN)/flask worker & worker=$$!; trap 'kill $$worker 2>/dev/null' EXIT INT TERM; \
	  $(BIN)/flask run --host $(HOST) --port $(PORT)

test: setup chromium
	@echo "== the suite on SQLite"
	TEST_DATABASE_URL= $(BIN)/python -m pytest -q $(PYTEST_ARGS)
	@if [ -n "$$TEST_DATABASE_URL" ]; then \
	  echo "== again on PostgreSQL ($$TEST_DATABASE_URL)"; \
	  $(BIN)/python -m pytest -q $(PYTEST_ARGS); \
	fi

# Production-like: gunicorn with several processes plus a background worker.
# DATABASE_URL=postgresql+psycopg://user@host/db make serve
serve: setup
	$(BIN)/flask db upgrade
	@workers=; for n in $$(seq $(JOB_WORKERS)); do $(BIN)/flask worker & workers="$$workers $$!"; done; \
	  trap 'kill $$workers 2>/dev/null' EXIT INT TERM; \
	  $(BIN)/gunicorn --workers $(WEB_PROCESSES) --timeout 120 --bind $(HOST):$(PORT) --access-logfile - wsgi:app

worker: $(STAMPS)/venv
	$(BIN)/flask worker

# Benchmarks (see bench/README.md): figures into bench/results/latest.json and a table.
# `make bench ONLY=rules,inbox` re-runs some; BENCH_DATABASE_URL=postgresql+psycopg://... for PostgreSQL.
bench: setup
	$(BIN)/python -m bench.run $(if $(ONLY),--only $(ONLY))

# A bounded (<= 60 s) loopback load run: gunicorn + locust headless; load_* into latest.json.
load: setup
	$(BIN)/python -m bench.load

# Re-extract translatable strings into both catalogs (then translate the new zh entries).
i18n: $(STAMPS)/venv
	$(BIN)/python tools/i18n.py update

clean:
	rm -rf $(STAMPS) app/static/build
