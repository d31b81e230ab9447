# CPOR claims. A new user needs two commands: `make run` and `make test` (see README.md).
SHELL := /bin/bash
VENV := .venv
BIN := $(VENV)/bin
PORT ?= 8000

.PHONY: run test install install-test services lint migrations-check clean bench

run: install
	$(BIN)/python manage.py migrate --noinput
	$(BIN)/python manage.py seed_demo
	$(BIN)/python manage.py collectstatic --noinput --verbosity 0
	@echo "Serving http://127.0.0.1:$(PORT) with a Celery worker and beat. Ctrl-C stops all three."
	SITE_URL="$${SITE_URL:-http://127.0.0.1:$(PORT)}" PATH="$(CURDIR)/$(BIN):$$PATH" $(BIN)/honcho start --port $(PORT) --procfile Procfile

test: install-test services lint migrations-check
	$(BIN)/pytest

# The SPEC §11 quality bars at 200,000 claims, PASS/FAIL per bar (minutes; not part of `make test`): bench/data.py
# first, then every bench/*.py script with a main. See bench/README.md.
BENCH_FIRST := bench/data.py bench/pages.py bench/finalize.py
bench: install-test services
	@failed=""; \
	for script in $(BENCH_FIRST) $$(grep -l '^if __name__ == "__main__":' bench/*.py | grep -vxF -e bench/data.py -e bench/pages.py -e bench/finalize.py); do \
	  echo "== $$script"; $(BIN)/python $$script || failed="$$failed $$script"; echo; \
	done; \
	if [ -n "$$failed" ]; then echo "make bench: a bar failed (or a script broke) in:$$failed"; exit 1; fi; \
	echo "make bench: every bar passed"

install: $(VENV)/.installed

install-test: $(VENV)/.installed-test

$(BIN)/python:
	@python=$$(scripts/find-python) && echo "Creating $(VENV) with $$python" && "$$python" -m venv $(VENV)

$(VENV)/.installed: requirements.txt | $(BIN)/python
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -r requirements.txt
	@touch $@

$(VENV)/.installed-test: requirements-test.txt $(VENV)/.installed
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -r requirements-test.txt
	@touch $@

services:
	@scripts/ensure-services

lint: install-test
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/lint-imports --no-cache

migrations-check: install
	$(BIN)/python manage.py makemigrations --check --dry-run

clean:
	rm -rf $(VENV) var staticfiles
