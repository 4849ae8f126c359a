# Two entry points: `make run` (try it) and `make test` (everything CI runs).
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
# Installs come only from the lock files in requirements/ (exact versions, hashes checked):
# run.txt for running, otel.txt (run.txt plus the `otel` extra) for tracing, dev.txt (a superset
# of both) for the tests. `make lock` re-resolves them from pyproject.toml on purpose; commit the
# result on its own.
RUN_STAMP := $(VENV)/.run-$(shell cat requirements/run.txt | sha1sum | cut -c1-12)
DEV_STAMP := $(VENV)/.dev-$(shell cat requirements/dev.txt | sha1sum | cut -c1-12)
PIP_TOOLS := pip-tools==7.6.2
COMPILE := pip-compile --quiet --generate-hashes --strip-extras --allow-unsafe --all-build-deps \
	--no-emit-index-url --no-emit-find-links

.PHONY: run test lint typecheck pytest bench bench-tools lock otel clean

$(VENV)/bin/python:
	$(PYTHON) -m venv $(VENV)

$(RUN_STAMP): requirements/run.txt | $(VENV)/bin/python
	$(BIN)/pip install --quiet --require-hashes -r requirements/run.txt
	$(BIN)/pip install --quiet --no-deps --no-build-isolation -e .
	rm -f $(VENV)/.run-* && touch $@

$(DEV_STAMP): requirements/dev.txt | $(VENV)/bin/python
	$(BIN)/pip install --quiet --require-hashes -r requirements/dev.txt
	$(BIN)/pip install --quiet --no-deps --no-build-isolation -e .
	rm -f $(VENV)/.dev-* $(VENV)/.run-* && touch $@

# Re-resolve the lock files from pyproject.toml (newest versions its ranges allow).
lock:
	test -x .venv-lock/bin/pip-compile || ($(PYTHON) -m venv .venv-lock && .venv-lock/bin/pip install --quiet '$(PIP_TOOLS)')
	.venv-lock/bin/$(COMPILE) -o requirements/run.txt pyproject.toml
	.venv-lock/bin/$(COMPILE) --extra otel -c requirements/run.txt -o requirements/otel.txt pyproject.toml
	.venv-lock/bin/$(COMPILE) --extra dev -c requirements/run.txt -c requirements/otel.txt -o requirements/dev.txt pyproject.toml

# The optional OpenTelemetry packages (traces when IDP_OTEL_ENDPOINT is set), from their own lock
# file, into .venv beside what running needs.
otel: $(RUN_STAMP)
	$(BIN)/pip install --quiet --require-hashes -r requirements/otel.txt

# make run IDP_PORT=8001 SANDBOX_PORT=8101: the demo follows the ports (redirect URI, hand-off).
IDP_PORT ?= 8000
SANDBOX_PORT ?= 8100
run: $(RUN_STAMP)
	$(BIN)/idp dev --port $(IDP_PORT) --sandbox-port $(SANDBOX_PORT)

test: lint typecheck pytest

lint: $(DEV_STAMP)
	$(BIN)/ruff check idp tests bench migrations
	$(BIN)/ruff format --check idp tests bench migrations

typecheck: $(DEV_STAMP)
	$(BIN)/mypy

tests/rp/node_modules/.package-lock.json: tests/rp/package-lock.json
	cd tests/rp && npm ci --no-audit --no-fund --loglevel=error

tests/axe/node_modules/.package-lock.json: tests/axe/package-lock.json
	cd tests/axe && npm ci --no-audit --no-fund --loglevel=error

# The suite's passes (tests/passes.py): on SQLite; the end-to-end tests again with `idp serve` on
# Hypercorn (the default server is Granian), on the PostgreSQL database IDP_TEST_E2E_POSTGRES_URL
# names; the in-process tests again on IDP_TEST_POSTGRES_URL's. The production topology test
# (nginx over two instances, on IDP_TEST_TOPOLOGY_POSTGRES_URL's database) runs once. .ci/run
# starts PostgreSQL and names the three databases. Three passes run at once, each logging to
# var/test-logs/; PYTEST_ARGS go to every pytest run, e.g. PYTEST_ARGS="-x".
PYTEST_ARGS ?=
pytest: $(DEV_STAMP) tests/rp/node_modules/.package-lock.json tests/axe/node_modules/.package-lock.json
	$(BIN)/python tests/passes.py $(PYTEST_ARGS)

# wrk drives the load; oidc-provider (bench/peer, pinned by its package-lock.json) is the peer.
# BENCH_ARGS passes flags to bench/compare.py, e.g. BENCH_ARGS="--rounds 5 --server hypercorn".
BENCH_ARGS ?=
bench-tools:
	@missing=""; \
	command -v wrk >/dev/null 2>&1 || missing="$$missing wrk"; \
	command -v node >/dev/null 2>&1 || missing="$$missing nodejs"; \
	command -v npm >/dev/null 2>&1 || missing="$$missing npm"; \
	if [ -n "$$missing" ]; then \
		echo "installing:$$missing"; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
			--no-install-recommends $$missing; \
	fi

bench/peer/node_modules/.package-lock.json: bench/peer/package-lock.json | bench-tools
	cd bench/peer && npm ci --no-audit --no-fund --loglevel=error

bench: bench-tools $(DEV_STAMP) bench/peer/node_modules/.package-lock.json
	$(BIN)/python bench/compare.py $(BENCH_ARGS)
	$(BIN)/python bench/run.py --workers 2 --no-throughput

clean:
	rm -rf $(VENV) .venv-lock var test-artifacts .pytest_cache .mypy_cache .ruff_cache
