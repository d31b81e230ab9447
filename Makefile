# CPOR claims. A new user needs two commands: `make run` and `make test` (see README.md).
SHELL := /bin/bash
VENV := .venv
BIN := $(VENV)/bin
PORT ?= 8000
# Where the embedded defaults keep their data (cpor/settings.py), the embedded PostgreSQL's included.
VAR_DIR := $(or $(CPOR_VAR_DIR),var)

.PHONY: run test test-fast install install-test services lint migrations-check clean bench messages

# Python's bytecode caches (__pycache__/, ignored by git) even where the shell turns them off: without them every
# process compiles the project again, the tests (rewritten by pytest) on every run, in each xdist worker, and each
# interpreter the tests start (Celery workers, gunicorn) compiles the project modules it imports.
unexport PYTHONDONTWRITEBYTECODE

# Migrate, demo data, then web, worker and beat; without DATABASE_URL on the embedded PostgreSQL in var/postgres.
run: install
	@PORT=$(PORT) scripts/run

# scripts/ensure-services wrote the URL of the PostgreSQL the tests use: a server on 127.0.0.1:5432 where one
# answers, else the embedded one in var/test-postgres.
# Three pytest-xdist workers on this 2-core machine, as they wait on PostgreSQL, Chromium and the processes they start
# (measured: the whole suite 352 s with two, 335 s with three; TEST_WORKERS=1 for one); each has its own test
# database, Redis databases, Celery queues and S3 server (cpor/test_settings.py). conftest.py marks groups for
# --dist loadgroup: the fault tests on one worker one after another, a browser file's or a module's servers' tests on
# one worker; every other test goes to whichever worker is free (pytest stays at 9.1: see requirements-test.txt).
TEST_WORKERS ?= 3
PYTEST_XDIST := $(if $(filter 1,$(TEST_WORKERS)),,-n $(TEST_WORKERS) --dist loadgroup)
test: install-test services lint migrations-check messages
	TEST_DATABASE_URL="$$(cat $(VAR_DIR)/test-database-url)" $(BIN)/pytest $(PYTEST_XDIST)

# The edit-test loop: every test but the browser, process, fault and slow ones (conftest.py and the tests mark them),
# no lint. The
# test databases are kept between runs (--reuse-db: new migrations are applied, none is rerun); make test rebuilds.
test-fast: install-test services messages
	TEST_DATABASE_URL="$$(cat $(VAR_DIR)/test-database-url)" $(BIN)/pytest $(PYTEST_XDIST) --reuse-db \
	  -m "not browser and not process and not fault and not slow"

# The SPEC §11 quality bars at 200,000 claims (CLAIMS=2000000: at 2,000,000), PASS/FAIL per bar (minutes; not part of `make test`): bench/data.py
# first, then every bench/*.py script with a main. See bench/README.md.
# The scale: `make bench CLAIMS=2000000` (default 200,000), exported as CPOR_BENCH_CLAIMS to every script (each
# scale has a bench database of its own: cpor_bench_200k, cpor_bench_2m).
CLAIMS ?= 200000
BENCH_FIRST := bench/data.py bench/pages.py bench/finalize.py
bench: install-test services
	@export CPOR_BENCH_CLAIMS=$(CLAIMS); echo "make bench at $(CLAIMS) claims"; failed=""; \
	for script in $(BENCH_FIRST) $$(grep -l '^if __name__ == "__main__":' bench/*.py | grep -vxF -e bench/data.py -e bench/pages.py -e bench/finalize.py); do \
	  echo "== $$script"; $(BIN)/python $$script || failed="$$failed $$script"; echo; \
	done; \
	if [ -n "$$failed" ]; then echo "make bench: a bar failed (or a script broke) in:$$failed"; exit 1; fi; \
	echo "make bench: every bar passed"

install: $(VENV)/.installed

install-test: $(VENV)/.installed-test

$(BIN)/python:
	@python=$$(scripts/find-python) && echo "Creating $(VENV) with $$python" && "$$python" -m venv $(VENV)

# --no-compile: a module is compiled when first imported (and its cache kept, see PYTHONDONTWRITEBYTECODE above);
# pip would compile every module of every package, most never imported: half of a fresh install's 31 s.
PIP_INSTALL := $(BIN)/python -m pip install --quiet --disable-pip-version-check --no-compile

$(VENV)/.installed: requirements.txt | $(BIN)/python
	$(PIP_INSTALL) -r requirements.txt
	@touch $@

# requirements-test.txt includes requirements.txt: one pip run installs both.
$(VENV)/.installed-test: requirements-test.txt requirements.txt | $(BIN)/python
	$(PIP_INSTALL) -r requirements-test.txt
	@touch $(VENV)/.installed $@

services:
	@scripts/ensure-services

# locale/**/*.po to .mo (SPEC §15), in Python: no GNU gettext needed.
messages: install
	@$(BIN)/python scripts/compile_messages.py

lint: install-test
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/lint-imports --no-cache

# Compares the models with the migration files: no database needed, so no warning when none answers (the
# embedded PostgreSQL is up only under make run).
migrations-check: install
	$(BIN)/python -W "ignore:Got an error checking a consistent migration history:RuntimeWarning" \
	  manage.py makemigrations --check --dry-run

# A running embedded PostgreSQL is stopped before its data goes.
clean:
	@if [ -x $(BIN)/python ]; then $(BIN)/python scripts/embedded_pg.py stop $(VAR_DIR)/postgres $(VAR_DIR)/test-postgres; fi
	rm -rf $(VENV) $(VAR_DIR) staticfiles
