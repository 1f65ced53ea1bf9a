# The two set-up commands of the README. Each target creates the virtual environment
# and installs what it needs, so both work on a fresh machine with Python 3.11 and pip.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp
MODEL ?= u2netp

.PHONY: run test lint format audit bench bench-model chromium clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

## make run [PORT=8000] [HOST=127.0.0.1]: the web app on the embedded default (SQLite,
## local storage, in-process executor); without PORT/HOST, CLEARCUTOUT_PORT/_HOST or 8000
run: $(STAMP)
	$(BIN)/clearcutout models pull $${CLEARCUTOUT_DEFAULT_MODEL:-$${CLEARCUTOUT_DEFAULT_QUALITY:-balanced}}
	$(BIN)/clearcutout db upgrade
	$(BIN)/clearcutout serve $(if $(HOST),--host '$(HOST)') $(if $(PORT),--port '$(PORT)')

## make test: lint, type-check and the whole test suite (fetches U²-Netp for the tests)
test: $(STAMP) chromium
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/pip-audit --progress-spinner off --skip-editable
	$(BIN)/clearcutout models pull u2netp
	$(BIN)/python -m pytest

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

## make audit: fail on any known vulnerability, and on any package that could not be
## checked (needs pypi.org's per-version JSON API or api.osv.dev)
audit: $(STAMP)
	$(BIN)/pip-audit --progress-spinner off --skip-editable --strict

format: $(STAMP)
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

## make bench: the quality presets beside rembg (U²-Net, ISNet), quality and seconds per
## photo; `make bench-model MODEL=u2net|isnet-general-use`: one model's quality and speed
bench: $(STAMP)
	$(BIN)/python -m bench --presets

bench-model: $(STAMP)
	$(BIN)/python -m bench --model $(MODEL)

## Browser tests drive Debian's Chromium; install it when missing.
chromium:
	@command -v chromium >/dev/null 2>&1 && command -v chromedriver >/dev/null 2>&1 || \
	  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver)

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache
