# creditflow — two commands do all set-up: `make demo` and `make test`.
SHELL := /bin/bash
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-$(shell cat requirements.txt constraints.txt pyproject.toml | sha1sum | cut -c1-12)

.PHONY: help install demo test test-unit lint bench lock clean cluster cluster-stop browser-deps ldap-deps airflow

help:
	@echo "make demo   - install into .venv, start Airflow (http://localhost:8080, admin/admin) and the sandboxes, run the pipelines"
	@echo "make test   - the whole test suite (unit, DAG integrity, integration)"
	@echo "make cluster      - the same DAGs distributed: PostgreSQL, Redis, CeleryExecutor, two workers (http://localhost:8090)"
	@echo "                    signing in as in production: FAB auth manager + LDAP against its own OpenLDAP (slapd)"
	@echo "make cluster-stop - stop what make cluster started (from another shell)"
	@echo "make airflow ARGS=\"dags list\" [SHAPE=cluster] - the Airflow CLI with the demo's (or make cluster's) environment"
	@echo "make lint   - ruff and mypy on include/ and plugins/"
	@echo "make bench  - benchmarks (by hand; results go to docs/benchmarks.md)"

$(STAMP): requirements.txt constraints.txt pyproject.toml | ldap-deps
	@command -v $(PYTHON) >/dev/null || { echo "need $(PYTHON) on PATH"; exit 2; }
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade "pip>=24"
	$(BIN)/pip install --quiet -r requirements.txt -c constraints.txt
	$(BIN)/pip install --quiet --no-deps -e .
	rm -f $(VENV)/.installed-*
	touch $@

install: $(STAMP)

demo: $(STAMP)
	$(BIN)/python scripts/demo.py

# The distributed shape on this machine (scripts/cluster.py): Ctrl-C or `make cluster-stop` stops it.
cluster: $(STAMP)
	$(BIN)/python scripts/cluster.py

cluster-stop:
	$(BIN)/python scripts/cluster.py stop

# The Airflow CLI as the running services see it (scripts/airflow): make airflow ARGS="backfill create …";
# SHAPE=cluster for make cluster. Arguments with JSON (--conf '{…}') are easier with scripts/airflow itself.
SHAPE ?= demo
airflow: $(STAMP)
	$(BIN)/python scripts/airflow_cli.py --$(SHAPE) $(ARGS)

# The dashboard's browser test drives Debian's Chromium (never a browser download) and needs a Chinese
# font to render the page; installed once from Debian's packages.
browser-deps:
	@command -v chromium >/dev/null && fc-list :lang=zh 2>/dev/null | grep -q . || { \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver fonts-wqy-microhei fontconfig poppler-utils; }

# The production sign-in (FAB auth manager + LDAP): python-ldap compiles against Debian's OpenLDAP and SASL
# headers, and make cluster and the LDAP tests run Debian's OpenLDAP server (slapd) in a folder of their own.
# slapd is installed unconfigured (no system directory, no service started): debconf must not ask anything.
ldap-deps:
	@{ command -v slapd >/dev/null || test -x /usr/sbin/slapd; } && command -v ldapmodify >/dev/null \
	  && test -f /usr/include/ldap.h && test -f /usr/include/sasl/sasl.h || { \
	  echo "slapd slapd/no_configuration boolean true" | debconf-set-selections; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
	    slapd ldap-utils libldap2-dev libsasl2-dev; }

test: $(STAMP) browser-deps
	$(BIN)/python -m pytest

test-unit: $(STAMP)
	$(BIN)/python -m pytest tests/unit

lint: $(STAMP)
	$(BIN)/ruff check include plugins dags
	$(BIN)/mypy include plugins

bench: $(STAMP)
	$(BIN)/python bench/run.py

# Re-resolve the pinned set after changing requirements.txt (needs network to the package index; python-ldap
# compiles against the headers of make ldap-deps).
lock: ldap-deps
	rm -rf .venv-lock && $(PYTHON) -m venv .venv-lock
	.venv-lock/bin/pip install --quiet --upgrade "pip>=24"
	.venv-lock/bin/pip install --quiet -r requirements.txt
	.venv-lock/bin/pip freeze --exclude-editable > constraints.txt
	rm -rf .venv-lock

clean:
	rm -rf .airflow var
