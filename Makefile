# Two entry points (see README): `make run` and `make test`. Everything else is a helper.
# The interpreter .venv is made from: the system's own CPython when it is 3.11 or newer and can
# make a venv, else the first python3 on PATH; `make PYTHON=...` picks another. Debian's
# /usr/bin/python3 is linked statically; a source build like pyenv's (--enable-shared, no
# --enable-optimizations) spent a quarter more CPU per IAQ end to end on this project's
# machines (docs/benchmarks.md, "Round 8"). An existing .venv keeps its interpreter.
SYSTEM_PYTHON := $(shell /usr/bin/python3 -c 'import ensurepip, sys; sys.exit(sys.version_info < (3, 11))' \
                   2>/dev/null && echo /usr/bin/python3)
PYTHON ?= $(or $(SYSTEM_PYTHON),python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
DATA_DIR ?= ./data
PACKAGES := gateway formats routing responders simulator fuzz

.PHONY: run test lint bench bench-instructions soak fuzz data clean mosquitto postgresql valgrind

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[test]'
	touch $(STAMP)

mosquitto:
	@command -v mosquitto >/dev/null 2>&1 || test -x /usr/sbin/mosquitto || { \
	  if [ "$$(id -u)" = 0 ]; then apt-get update -qq && apt-get install -y -qq mosquitto mosquitto-clients; \
	  else echo "mosquitto is missing: run 'sudo apt-get install -y mosquitto mosquitto-clients'" >&2; exit 1; fi; }

# The shared-store tests and make bench start throwaway clusters with initdb and pg_ctl
# (simulator/postgres.py).
postgresql:
	@command -v initdb >/dev/null 2>&1 || ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ]; then apt-get update -qq && apt-get install -y -qq postgresql; \
	  else echo "postgresql is missing: run 'sudo apt-get install -y postgresql'" >&2; exit 1; fi; }

# make bench-instructions counts the gateway's instructions under callgrind; a test reads a
# callgrind profile.
valgrind:
	@command -v valgrind >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ]; then apt-get update -qq && apt-get install -y -qq valgrind; \
	  else echo "valgrind is missing: run 'sudo apt-get install -y valgrind'" >&2; exit 1; fi; }

data: $(STAMP)
	$(BIN)/iaqgw data build --data-dir $(DATA_DIR)

run: data
	$(BIN)/iaqgw serve --host 127.0.0.1 --port 7300 --data-dir $(DATA_DIR)

test: $(STAMP) mosquitto postgresql valgrind
	$(BIN)/ruff check $(PACKAGES) tests
	$(BIN)/mypy $(PACKAGES)
	# One worker per core; each test file stays on one worker (its fixtures and brokers with it).
	$(BIN)/pytest -q -n 2 --dist loadfile

lint: $(STAMP)
	$(BIN)/ruff check $(PACKAGES) tests
	$(BIN)/mypy $(PACKAGES)

bench: $(STAMP) mosquitto postgresql
	$(BIN)/pip install -q -e '.[test,bench]'
	$(BIN)/python -m simulator.bench

bench-instructions: $(STAMP) valgrind
	$(BIN)/pip install -q -e '.[test,bench]'
	$(BIN)/python -m simulator.bench_instructions $(foreach part,$(PARTS),--part $(part)) \
	  $(if $(LOAD),--load $(LOAD)) $(if $(OPEN_LOOP_IAQS),--open-loop-iaqs)

soak: $(STAMP) mosquitto
	$(BIN)/pytest -q -m soak

# Coverage-guided fuzzing of the frame decoder, the parsers and the Nlets XML readers,
# FUZZ_SECONDS per target.
# The corpus grows in .fuzz/; a finding is written there as crash-* and becomes a test.
FUZZ_SECONDS ?= 60
fuzz: $(STAMP)
	$(BIN)/pip install -q -e '.[test,fuzz]'
	$(BIN)/python -m fuzz.seeds .fuzz/seeds
	mkdir -p .fuzz/framing .fuzz/parsers .fuzz/xml
	$(BIN)/python -m fuzz.fuzz_framing -max_total_time=$(FUZZ_SECONDS) \
	  -artifact_prefix=.fuzz/crash-framing- .fuzz/framing .fuzz/seeds
	$(BIN)/python -m fuzz.fuzz_parsers -max_total_time=$(FUZZ_SECONDS) \
	  -artifact_prefix=.fuzz/crash-parsers- .fuzz/parsers .fuzz/seeds
	$(BIN)/python -m fuzz.fuzz_xml -max_total_time=$(FUZZ_SECONDS) \
	  -artifact_prefix=.fuzz/crash-xml- .fuzz/xml .fuzz/seeds

clean:
	rm -rf $(VENV) data .pytest_cache .mypy_cache .ruff_cache
