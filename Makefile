# pixity: two commands on a fresh machine — `make demo` and `make test`.
SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help

PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.pixity-installed
PYTEST_ARGS ?=

.PHONY: help venv system-deps lint test demo clean model soak

help:
	@echo "make demo   - set up .venv and run the whole system on the local exchange"
	@echo "make test   - set up .venv and run every check: ruff, mypy, pytest (+hypothesis, nbval, browser)"
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

# Tools the tests use from the system, from Debian's packages when missing (idempotent): the
# sqlite3 shell (the design's SQL is checked with it verbatim), and chromium with its driver
# (the scanner's browser test), and strace (the disk-failure test injects EROFS with it).
SYSTEM_PACKAGES := sqlite3:sqlite3 chromium:chromium chromedriver:chromium-driver strace:strace
system-deps:
	@missing=""; for pair in $(SYSTEM_PACKAGES); do \
		command -v "$${pair%%:*}" >/dev/null || missing="$$missing $${pair#*:}"; done; \
	if [ -n "$$missing" ]; then \
		echo "installing Debian packages:$$missing"; \
		SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
		$$SUDO apt-get update -qq && \
		DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq $$missing >/dev/null; fi

lint: venv
	$(BIN)/ruff check pixity runners tests bench
	$(BIN)/ruff format --check pixity runners tests bench
	$(BIN)/mypy pixity

# Two parts: every test not marked `serial` on TEST_WORKERS processes (pytest-xdist; a file's
# tests stay together and in order, as nbval needs), then the `serial` ones alone, whose time
# bounds, load or machine-wide counts another test running beside them would disturb. Both
# parts always run; either one failing fails `make test`. Pytest's 5 is "nothing selected"
# (PYTEST_ARGS naming tests of one part only), not a failure.
TEST_WORKERS ?= 2
test: venv system-deps lint
	@failed=0; \
	$(BIN)/python -m pytest -n $(TEST_WORKERS) --dist loadfile -m "not serial" $(PYTEST_ARGS) \
		|| { rc=$$?; [ $$rc = 5 ] || failed=$$rc; }; \
	echo "--- the serial tests, one at a time"; \
	$(BIN)/python -m pytest -m serial $(PYTEST_ARGS) || { rc=$$?; [ $$rc = 5 ] || failed=$$rc; }; \
	exit $$failed

# The whole system on the local exchange; Ctrl-C stops it. DEMO_ARGS="--port 8867" etc.
DEMO_ARGS ?=
demo: venv
	$(BIN)/pixity demo $(DEMO_ARGS)

# The reliability suite at full length (make test runs its short versions).
soak: venv system-deps
	PIXITY_SOAK=1 $(BIN)/python -m pytest tests/reliability $(PYTEST_ARGS)

# The default pixityAI_meta artifact, rebuilt bit-for-bit from the sample market.
model: venv
	$(BIN)/python -m pixity.strategies.pixity_meta.train_default

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache .hypothesis
