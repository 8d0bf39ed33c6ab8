# Development entry points. Plain POSIX make: no GNU extensions, recipes run
# in /bin/sh whatever the user's login shell is.
#
#   make up                       bring the whole system up (Ctrl-C stops it), in
#                                 development mode (scripts/up.py turns it on:
#                                 the settings default to production), on
#                                 127.0.0.1; WEB_BIND_ADDRESS=0.0.0.0 make up
#                                 listens on every interface
#   make up-split                 the same behind nginx: gunicorn for plain HTTP,
#                                 daphne for the WebSocket, the event stream and
#                                 long polls (scripts/split_layout.py; needs
#                                 nginx, docs/deployment.md)
#   make test [PYTEST_ARGS=-x]    run the test suite
#   make lint                     ruff check + ruff format --check
#
# The stamp files under .venv/ record the last successful install, so pip only
# runs when a requirements file is newer than its stamp.

.POSIX:
SHELL = /bin/sh

PYTHON = python3
VENV = .venv
PYTEST_ARGS =

.PHONY: up up-split test lint

up: $(VENV)/.stamp-requirements
	exec $(VENV)/bin/python scripts/up.py

up-split: $(VENV)/.stamp-requirements
	exec $(VENV)/bin/python scripts/split_layout.py

test: $(VENV)/.stamp-requirements-test
	@sh scripts/ensure_test_tools.sh
	$(VENV)/bin/python -m pytest $(PYTEST_ARGS)

# Runs both checks even if the first one fails, so one run shows everything.
lint: $(VENV)/.stamp-requirements-test
	@status=0; \
	echo "ruff check ."; $(VENV)/bin/ruff check . || status=1; \
	echo "ruff format --check ."; $(VENV)/bin/ruff format --check . || status=1; \
	exit $$status

# The virtualenv itself. Refuses Python < 3.11; removes a half-made .venv so
# the next run starts over instead of trusting it.
$(VENV)/.stamp-venv:
	@command -v $(PYTHON) >/dev/null 2>&1 || { \
	  echo "error: $(PYTHON) not found; install Python 3.11+ or run: make PYTHON=/path/to/python3.11 ..." >&2; \
	  exit 1; }
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 11))' || { \
	  echo "error: Python 3.11+ is required, but $(PYTHON) is $$($(PYTHON) -V 2>&1)." >&2; \
	  echo "       Install a newer Python and run: make PYTHON=python3.11 ..." >&2; \
	  exit 1; }
	@if [ ! -x $(VENV)/bin/python ]; then \
	  echo "creating $(VENV) with $$($(PYTHON) -V 2>&1)"; \
	  $(PYTHON) -m venv $(VENV) || { \
	    rm -rf $(VENV); \
	    echo "error: '$(PYTHON) -m venv' failed (Debian/Ubuntu: apt-get install python3-venv)" >&2; \
	    exit 1; }; \
	fi
	@touch $@

$(VENV)/.stamp-requirements: $(VENV)/.stamp-venv requirements.txt
	$(VENV)/bin/python -m pip install --quiet --disable-pip-version-check -r requirements.txt
	@touch $@

# requirements-test.txt includes requirements.txt, so both are prerequisites.
$(VENV)/.stamp-requirements-test: $(VENV)/.stamp-venv requirements.txt requirements-test.txt
	$(VENV)/bin/python -m pip install --quiet --disable-pip-version-check -r requirements-test.txt
	@touch $@
