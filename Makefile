# Two entry points: `make run` (try it) and `make test` (everything CI runs).
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-$(shell sha1sum pyproject.toml | cut -c1-12)

.PHONY: run test lint typecheck pytest bench clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	rm -f $(VENV)/.installed-* && touch $@

run: $(STAMP)
	$(BIN)/idp dev

test: lint typecheck pytest

lint: $(STAMP)
	$(BIN)/ruff check idp tests bench migrations
	$(BIN)/ruff format --check idp tests bench migrations

typecheck: $(STAMP)
	$(BIN)/mypy

tests/rp/node_modules/.package-lock.json: tests/rp/package-lock.json
	cd tests/rp && npm ci --no-audit --no-fund --loglevel=error

# The whole suite on the embedded SQLite; then, where IDP_TEST_POSTGRES_URL names a PostgreSQL
# database (.ci/run starts one), every in-process test again on PostgreSQL through asyncpg.
pytest: $(STAMP) tests/rp/node_modules/.package-lock.json
	env -u IDP_TEST_POSTGRES_URL $(BIN)/python -m pytest
	@if [ -n "$$IDP_TEST_POSTGRES_URL" ]; then \
		echo "== again on PostgreSQL (in-process tests) =="; \
		$(BIN)/python -m pytest -q -m "not e2e"; \
	fi

bench: $(STAMP)
	$(BIN)/python bench/run.py

clean:
	rm -rf $(VENV) var test-artifacts .pytest_cache .mypy_cache .ruff_cache
