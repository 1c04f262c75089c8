# Steward: `make demo` to try it, `make test` to test it.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
HOST ?= 127.0.0.1
PORT ?= 8000

.PHONY: demo test lint serve web worker beat install clean chaos

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

## demo: set everything up and serve http://127.0.0.1:8000 with an in-process worker (SQLite, no services).
# The example agents of agents/examples/ (written the LangGraph way) load next to the demo agents,
# unless STEWARD_LANGGRAPH_JSON names your own langgraph.json.
demo: export STEWARD_LANGGRAPH_JSON ?= $(CURDIR)/agents/examples/langgraph.json
demo: $(STAMP)
	$(PY) manage.py migrate --noinput
	$(PY) manage.py seed_demo
	$(PY) manage.py serve_embedded --host $(HOST) --port $(PORT)

## test: ruff, mypy, the import layers (docs/architecture.md), then the whole suite (Postgres and Redis are used where they answer).
test: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/lint-imports
	$(VENV)/bin/mypy
	$(VENV)/bin/pytest -q

lint: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/lint-imports

## serve: production-style processes (set DATABASE_URL, CELERY_BROKER_URL, CHANNEL_LAYER_URL; STEWARD_LANGGRAPH_JSON for your graphs).
serve: $(STAMP)
	@test -n "$$DATABASE_URL" || (echo "set DATABASE_URL=postgres://... (see README)"; exit 1)
	@test -n "$$CELERY_BROKER_URL" || (echo "set CELERY_BROKER_URL=redis://... (see README)"; exit 1)
	$(PY) manage.py migrate --noinput
	trap 'kill 0' INT TERM EXIT; \
	$(VENV)/bin/celery -A console worker --loglevel=INFO --concurrency=$${WORKER_CONCURRENCY:-2} & \
	$(VENV)/bin/celery -A console beat --loglevel=INFO --schedule=$${BEAT_SCHEDULE_FILE:-var/celerybeat-schedule} & \
	$(VENV)/bin/daphne -b $(HOST) -p $(PORT) console.asgi:application & \
	wait

# Twisted's listen backlog is 50: a burst of connections beyond it was reset (manage.py chaos --scenario burst).
web: $(STAMP)
	$(VENV)/bin/daphne -e tcp:port=$(PORT):interface=$(HOST):backlog=1024 console.asgi:application

worker: $(STAMP)
	$(VENV)/bin/celery -A console worker --loglevel=INFO

beat: $(STAMP)
	$(VENV)/bin/celery -A console beat --loglevel=INFO --schedule=var/celerybeat-schedule

## chaos: kill workers, restart a private Postgres and Redis, drop live events; print the figures (needs the postgresql and redis-server packages).
chaos: $(STAMP)
	$(PY) manage.py chaos --runs $${CHAOS_RUNS:-50}

clean:
	rm -rf $(VENV) var
