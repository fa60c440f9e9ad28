# Conexión Empresas: `make run` serves the demo, `make test` runs the fast suite, `make test-long`
# the long one (tests/long/: killed processes, several server processes, load).
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
export FLASK_APP := app

PG_URL ?= postgresql://postgres@127.0.0.1:5432/test
FAST := -m "not long"
LONG := -m long

.PHONY: help run serve test test-pg test-long test-long-pg test-all bench bench-load lint format browser db clean

help:
	@echo "make run           crea .venv, instala, migra, carga la demo y sirve en http://127.0.0.1:5000"
	@echo "make serve         producción: gunicorn (workers según los núcleos) + un proceso de trabajos, sobre DATABASE_URL"
	@echo "make test          instala lo necesario y ejecuta las pruebas rápidas (SQLite, con navegador)"
	@echo "make test-pg       las mismas pruebas sobre PostgreSQL (DATABASE_URL o 127.0.0.1:5432/test)"
	@echo "make test-long     las pruebas largas: procesos terminados a la fuerza, varios servidores, carga (SQLite)"
	@echo "make test-long-pg  las pruebas largas sobre PostgreSQL"
	@echo "make test-all      todo: rápidas y largas, en SQLite y en PostgreSQL (lo que ejecuta .ci/run)"
	@echo "make bench         ejecuta los benchmarks e imprime sus cifras"
	@echo "make bench-load    16 usuarios contra make serve con 1.000.000 de tarjetas y de líneas (PostgreSQL y SQLite)"
	@echo "make lint          ruff check + ruff format --check"

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

$(VENV)/.runtime: requirements.txt | $(BIN)/python
	$(BIN)/pip install --quiet -r requirements.txt
	touch $@

$(VENV)/.dev: requirements-dev.txt $(VENV)/.runtime
	$(BIN)/pip install --quiet -r requirements-dev.txt
	touch $@

db: $(VENV)/.runtime
	$(BIN)/flask db upgrade

run: db
	DEMO_MODE=1 $(BIN)/flask seed-demo --if-empty
	DEMO_MODE=1 SESSION_COOKIE_SECURE=0 $(BIN)/python app.py

# Production shape: gunicorn (2 x cores + 1 workers, WORKERS overrides) and one `python -m jobs`
# process on DATABASE_URL; Ctrl-C (or either process ending) stops both.
WORKERS ?= $(shell echo $$(( 2 * $$(nproc 2>/dev/null || echo 1) + 1 )))
BIND ?= $${HOST:-127.0.0.1}:$${PORT:-8000}
serve: db
	@trap 'kill $$web $$jobs 2>/dev/null; wait' INT TERM EXIT; \
	$(BIN)/gunicorn -w $(WORKERS) -b $(BIND) --access-logfile - 'app:create_app()' & web=$$!; \
	$(BIN)/python -m jobs & jobs=$$!; \
	while kill -0 $$web 2>/dev/null && kill -0 $$jobs 2>/dev/null; do sleep 1; done

# Browser tests drive the system Chromium; install it where we can (root with apt).
browser:
	@if [ -x /usr/bin/chromium ]; then :; \
	elif [ "$$(id -u)" = "0" ] && command -v apt-get >/dev/null; then \
		echo "Instalando Chromium para las pruebas de navegador…"; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; \
	else echo "AVISO: sin /usr/bin/chromium las pruebas de navegador se omitirán (apt-get install chromium)."; fi

# PYTEST_ARGS adds options, e.g. make test PYTEST_ARGS="-x --durations=25".
# The SQLite targets ignore a DATABASE_URL of the environment; the -pg ones use it (or PG_URL).
test: $(VENV)/.dev browser
	DATABASE_URL= $(BIN)/python -m pytest $(FAST) $(PYTEST_ARGS)

test-pg: $(VENV)/.dev browser
	DATABASE_URL=$${DATABASE_URL:-$(PG_URL)} $(BIN)/python -m pytest $(FAST) $(PYTEST_ARGS)

test-long: $(VENV)/.dev browser
	DATABASE_URL= $(BIN)/python -m pytest $(LONG) $(PYTEST_ARGS)

test-long-pg: $(VENV)/.dev browser
	DATABASE_URL=$${DATABASE_URL:-$(PG_URL)} $(BIN)/python -m pytest $(LONG) $(PYTEST_ARGS)

test-all: test test-pg test-long test-long-pg

bench: $(VENV)/.dev
	$(BIN)/python -m bench

# Load at scale against `make serve` (bench/bench_load.py): PostgreSQL on a scratch database of
# the server of DATABASE_URL (or BENCH_LOAD_PG; BENCH_IN_PLACE=1 uses that database itself,
# emptied), then SQLite. BENCH_LOAD_ARGS adds options, e.g. BENCH_LOAD_ARGS="--engines pg".
BENCH_LOAD_PG ?= postgresql://postgres@127.0.0.1:5432/postgres
bench-load: $(VENV)/.dev
	$(BIN)/python -m bench.bench_load --database-url $${DATABASE_URL:-$(BENCH_LOAD_PG)} $(BENCH_LOAD_ARGS)

lint: $(VENV)/.dev
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: $(VENV)/.dev
	$(BIN)/ruff format .

clean:
	rm -rf $(VENV) instance/conexion.db* .pytest_cache
