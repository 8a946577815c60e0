# Every target works on a fresh clone: it creates .venv (dev extras) when missing, and
# reinstalls when pyproject.toml changes (the stamp file below depends on it).

PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.DEFAULT_GOAL := help
.PHONY: help demo test test-kit-redis-py test-kit-postgres lint bench bench-peers bench-scale test-faults-long dist-check docs docs-serve mutation mutation-fast test-driver-example screenshots

help:
	@echo "make demo              run the demo on the embedded memory:// broker"
	@echo "make test              tests/ (memory://, a throwaway Redis and PostgreSQL) and the conformance kit (memory://, Redis)"
	@echo "make test-kit-redis-py the conformance kit on Redis through redis-py instead of the pipelined connection"
	@echo "make test-kit-postgres the conformance kit on a throwaway PostgreSQL (its state machines take minutes)"
	@echo "make lint              ruff (check and format), mypy (strict: src and the kit), import-linter contracts"
	@echo "make bench             benchmarks/run.py: queue-core alone (asyncio, trio, memory://, baselines, RSS); the dashboard on 1M jobs"
	@echo "make bench-peers       the same workloads for saq, streaq, taskiq and dramatiq too, with the targets"
	@echo "make bench-scale       enqueue, drain, pickup and the Manager with 1M pending, 1M completed, 100k scheduled"
	@echo "make screenshots       the dashboard's pages as PNGs in docs/images/ (headless chromium)"
	@echo "make test-faults-long  the long fault tests (tests/fault -m long)"
	@echo "make dist-check        build sdist and wheel, twine check, install each in a new venv and run it"
	@echo "make docs              build the documentation site into site/ (mkdocs --strict)"
	@echo "make docs-serve        serve the documentation with live reload on http://127.0.0.1:8000"
	@echo "make mutation          the kit against every curated mutant, memory:// and Redis, three rounds (RUNS=3)"
	@echo "make mutation-fast     the fast subset of mutants, each on its focus module, memory:// and Redis (CI)"
	@echo "make test-driver-example  install examples/driver and run the kit's examples against logged://"

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -e '.[dev]'
	touch $@

demo: $(STAMP)
	$(BIN)/python -m queue_core demo

test: $(STAMP)
	$(BIN)/python tests/run_with_redis.py

# Its own target (CI runs it after make test) so that make test stays within ~25 minutes.
test-kit-redis-py: $(STAMP)
	$(BIN)/python tests/run_with_redis.py --kit-redis-py

# The kit on a throwaway PostgreSQL: its own target for the same reason (CI runs it).
test-kit-postgres: $(STAMP)
	$(BIN)/python tests/run_with_redis.py --kit-postgres

# All three checks run even when one fails, so one CI run reports everything.
lint: $(STAMP)
	@status=0; \
	echo "+ ruff check src conformance tests"; $(BIN)/ruff check src conformance tests || status=1; \
	echo "+ ruff format --check src conformance tests"; $(BIN)/ruff format --check src conformance tests || status=1; \
	echo "+ mypy"; $(BIN)/mypy || status=1; \
	echo "+ lint-imports"; $(BIN)/lint-imports || status=1; \
	exit $$status

bench: $(STAMP)
	$(BIN)/python benchmarks/run.py
	$(BIN)/python benchmarks/dashboard.py

screenshots: $(STAMP)
	$(BIN)/python -m tests.screenshots

# Each peer is installed into benchmarks/.venvs/<peer> (git-ignored) on first use.
bench-peers: $(STAMP)
	$(BIN)/python benchmarks/run.py --peers

# Not part of make test: about ten minutes and a few hundred MiB of Redis on 2 cores.
bench-scale: $(STAMP)
	$(BIN)/python benchmarks/scale.py

test-faults-long: $(STAMP)
	@if [ -d tests/fault ]; then \
		$(BIN)/python tests/run_with_redis.py tests/fault -m long; \
	else \
		echo "tests/fault is not there yet: no long fault tests to run"; \
	fi

# The release artifacts as a user installs them (tests/dist_check.py says what is checked).
dist-check: $(STAMP)
	$(BIN)/python tests/dist_check.py

# --strict turns every warning (a broken link, a page missing from nav) into a failure.
docs: $(STAMP)
	NO_MKDOCS_2_WARNING=1 $(BIN)/mkdocs build --strict --site-dir site

docs-serve: $(STAMP)
	NO_MKDOCS_2_WARNING=1 $(BIN)/mkdocs serve

# Mutation testing of the conformance kit (conformance/mutants): every mutant must be killed.
RUNS ?= 3
mutation: $(STAMP)
	nice -n 5 $(BIN)/python conformance/mutants/run.py --runs $(RUNS)

mutation-fast: $(STAMP)
	$(BIN)/python conformance/mutants/run.py --fast

# The example driver, installed as a user would (a wheel, not editable), then the kit's
# examples run against it.
KIT_EXAMPLES := $(addprefix queue_conformance.,test_examples test_examples_admin test_examples_aggregation \
	test_examples_coordination test_examples_fencing test_examples_storage)
test-driver-example: $(STAMP)
	$(BIN)/pip install --quiet --no-deps --force-reinstall ./examples/driver
	$(BIN)/python -m pytest -p queue_conformance --pyargs $(KIT_EXAMPLES) --broker logged:// -q
