# Zhengming — the two commands a new user needs: `make run` and `make test`.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-$(shell cat requirements.lock pyproject.toml | cksum | cut -d' ' -f1)

.PHONY: run test test-fast docs-check contract-tools asyncapi lint typecheck migrate clean help bench bench-quick bench-check chaos chaos-quick nemesis nemesis-quick mutate mutate-quick

help:
	@echo "make run    start the broker and the four services on the embedded default (SQLite under data/)"
	@echo "make test   lint, type-check, then the tests on SQLite and on PostgreSQL"
	@echo "make test-fast  the tests that need no broker and start no process, on SQLite"
	@echo "make docs-check  each service's /docs and /redoc rendered by headless chromium with no network"
	@echo "make bench  benchmarks on PostgreSQL and the local broker (bench-quick: a few minutes)"
	@echo "make chaos  fault injection across the pipeline (chaos-quick: the short mode CI runs)"
	@echo "make mutate  mutation testing of the rules and the kernel (MODULE=shared/auth.py: one; mutate-quick: CI's)"
	@echo "make nemesis  20 min of mixed faults under load, history checked (nemesis-quick: 3 min, CI)"

$(STAMP): requirements.lock pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "Python 3.11 or newer is needed")'
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	@echo "installing pinned dependencies into $(VENV) ..."
	@$(PY) -m pip install --quiet --disable-pip-version-check -r requirements.lock
	@$(PY) -m pip install --quiet --disable-pip-version-check --no-deps --no-build-isolation -e .
	@rm -f $(VENV)/.installed-*
	@touch $@

run: $(STAMP)
	@$(VENV)/bin/zhengming run

lint: $(STAMP)
	@$(VENV)/bin/ruff check shared services tests tools bench

typecheck: $(STAMP)
	@$(VENV)/bin/mypy shared services

# On each database: the tests that need no broker and start no process spread over two workers, then
# the broker and process tests one at a time (they start brokers and service processes of their own,
# and their deadlines assume the machine is not running a second such test). Exit status 5 (nothing
# selected, e.g. with a narrow PYTEST_ARGS) is not a failure.
TEST_TIERS = \
	ZM_TEST_DATABASE=$(1) $(PY) -m pytest -q -n 2 -m "not broker and not processes" $(PYTEST_ARGS) || [ $$? -eq 5 ]; \
	ZM_TEST_DATABASE=$(1) $(PY) -m pytest -q -m "broker or processes" $(PYTEST_ARGS) || [ $$? -eq 5 ]

test: lint typecheck contract-tools
	@echo "== tests on SQLite =="
	@set -e; $(call TEST_TIERS,sqlite)
	@echo "== tests on PostgreSQL =="
	@set -e; $(call TEST_TIERS,postgresql)

# The tier a change runs first: every test that needs no broker and starts no process, on SQLite,
# spread over the machine's cores.
test-fast: $(STAMP)
	@ZM_TEST_DATABASE=sqlite $(PY) -m pytest -q -n auto -m "not broker and not processes" $(PYTEST_ARGS)

# The official AsyncAPI 3 JSON Schema (npm @asyncapi/specs, pinned by tools/asyncapi/package-lock.json)
# that tests/test_asyncapi.py validates the event contract against. Without npm or the registry the
# check is skipped with a notice (CI sets ZM_REQUIRE_CONTRACT_TOOLS=1: there it fails instead).
CONTRACT_TOOLS := tools/asyncapi/node_modules/.installed-$(shell cksum < tools/asyncapi/package-lock.json | cut -d' ' -f1)
$(CONTRACT_TOOLS): tools/asyncapi/package-lock.json
	@if command -v npm >/dev/null && npm ci --prefix tools/asyncapi --no-audit --no-fund --silent; then touch $@; \
	else echo "notice: could not install tools/asyncapi (npm); the AsyncAPI schema check will be skipped"; fi

contract-tools: $(CONTRACT_TOOLS)

# Regenerate the shipped event contract after changing an event (a test fails until it is).
asyncapi: $(STAMP)
	@$(PY) -m shared.asyncapi > docs/asyncapi.json

# The operators' API pages rendered by Debian's chromium cut off from every host but 127.0.0.1;
# a missing browser is a failure here (`make test` skips it with a warning unless ZM_REQUIRE_BROWSER=1).
docs-check: $(STAMP)
	@ZM_REQUIRE_BROWSER=1 $(PY) -m pytest -q tests/test_docs_offline.py $(PYTEST_ARGS)

bench: $(STAMP)
	@$(PY) -m bench.run

bench-quick: $(STAMP)
	@$(PY) -m bench.run --quick

bench-check: $(STAMP)
	@$(PY) bench/check_benchmark.py

chaos: $(STAMP)
	@$(PY) -m tools.chaos
	@ZM_SCHEMATHESIS_EXAMPLES=200 ZM_TEST_DATABASE=postgresql $(PY) -m pytest -q tests/test_fuzz_api.py

chaos-quick: $(STAMP)
	@$(PY) -m tools.chaos --quick

nemesis: $(STAMP)
	@$(PY) -m tools.nemesis $(NEMESIS_ARGS)

nemesis-quick: $(STAMP)
	@$(PY) -m tools.nemesis --quick $(NEMESIS_ARGS)

migrate: $(STAMP)
	@$(VENV)/bin/zhengming migrate

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache .mypy_cache

# Mutation testing (TESTING.md): mutmut breaks each listed module on purpose, in a copy of the tree, and
# runs the fast tests that cover it; survivors and kill rates go to bench/results/mutation-<date>.json.
mutate: $(STAMP)
	@$(PY) -m tools.mutate $(MODULE) $(MUTATE_ARGS)

# CI's: the jurisdiction and bearer checks of shared/auth.py, held to a 95% kill rate.
mutate-quick: $(STAMP)
	@$(PY) -m tools.mutate shared/auth.py --only 'shared.auth.xǁPrincipalǁ*' --only 'shared.auth.x_authenticate*' \
		--only 'shared.auth.x_require_any*' --min-kill-rate 0.95 $(MUTATE_ARGS)
