# The two commands a newcomer needs: `make demo` and `make test`. Both set up the runtime first.
RUNTIME := scripts/runtime.sh
RUN := $(RUNTIME) run
PYTEST_ARGS ?=

.PHONY: setup test test-fast demo doctor bench run format clean-runtime

setup:
	@$(RUNTIME) setup

# The whole suite, slow and end-to-end tests included (what CI runs).
test: setup
	@scripts/check-runtime.sh
	$(RUN) python -m pytest -q -p no:cacheprovider $(PYTEST_ARGS)

# Only the fast unit tests, for the edit-test loop.
test-fast: setup
	$(RUN) python -m pytest -q -p no:cacheprovider -m "not slow and not e2e" $(PYTEST_ARGS)

demo: setup
	./vre demo

doctor: setup
	./vre doctor

bench: setup
	$(RUN) python benchmarks/run_all.py $(BENCH)

# Any command inside the runtime: make run CMD="python -c 'import tfx'"
run: setup
	$(RUN) $(CMD)

# The one formatter (ruff, line length 100 from pyproject.toml); runs on the host through uvx.
format:
	uvx ruff@0.17.6 format .

clean-runtime:
	rm -rf --one-file-system $${VRE_CACHE_DIR:-/var/cache/vre} .venv
