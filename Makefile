# pixity: two commands on a fresh machine — `make demo` and `make test`.
SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help

PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.pixity-installed
PYTEST_ARGS ?=

.PHONY: help venv system-deps lint test demo clean

help:
	@echo "make demo   - set up .venv and run the whole system on the local exchange"
	@echo "make test   - set up .venv and run every check: ruff, mypy, pytest (+hypothesis)"
	@echo "make venv   - create or update .venv only"

# Reinstall only when the dependency list changes: a second `make venv` takes a moment.
venv: $(STAMP)

$(STAMP): pyproject.toml
	@test -n "$(PYTHON)" || { echo "pixity needs Python 3.11+: none found on PATH" >&2; exit 1; }
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else 1)' || \
		{ echo "pixity needs Python 3.11+, $(PYTHON) is older" >&2; exit 1; }
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $(STAMP)

# Tools the tests use from the system: the sqlite3 command-line shell (the design's SQL is
# checked with it verbatim). Installed from Debian's packages when missing; idempotent.
system-deps:
	@command -v sqlite3 >/dev/null || { \
		echo "installing sqlite3 (Debian package)"; \
		SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
		$$SUDO apt-get update -qq && $$SUDO apt-get install -y -qq sqlite3 >/dev/null; }

lint: venv
	$(BIN)/ruff check pixity runners tests bench
	$(BIN)/ruff format --check pixity runners tests bench
	$(BIN)/mypy pixity

test: venv system-deps lint
	$(BIN)/python -m pytest $(PYTEST_ARGS)

demo: venv
	@echo "pixity demo will start the local exchange (speed 60), the ingest, a paper live"
	@echo "session with pixityAI_meta and the scanner, then print where to look."
	@echo "It is not built yet (issue: make demo). Nothing was started." >&2
	@exit 1

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache .hypothesis
