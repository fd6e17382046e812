# The named commands of the project. `make demo` and `make test` work on a fresh machine with
# Python 3.11+: they create .venv and install what they need first.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: setup demo serve test test-unit test-integration test-browser browser-deps cluster-deps oidc-deps lint fmt bench load-bench first-visit-bench clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e ".[test]"
	touch $(STAMP)

setup: $(STAMP)

# District boundaries for the map are configuration (IOC_BOUNDARIES_FILE); the demo uses the
# former districts' GeoJSON when it lies beside the project, else the map shows school points.
BOUNDARIES ?= $(wildcard $(abspath ../shared/data/hcmc_legacy_districts.geojson))

## Build the demo store for Ho Chi Minh City and run the app on http://127.0.0.1:8050
## (sign-in switched off explicitly, for the demo only: see docs/security.md)
demo: setup
	$(BIN)/ioc demo
	IOC_AUTH_REQUIRED=false IOC_BOUNDARIES_FILE="$(BOUNDARIES)" $(BIN)/ioc serve

serve: setup
	$(BIN)/ioc serve

## Every test: unit, integration (real files, processes, HTTP) and browser (headless Chromium)
test: setup browser-deps cluster-deps oidc-deps
	$(BIN)/python -m pytest tests

test-unit: setup
	$(BIN)/python -m pytest tests/unit

test-integration: setup cluster-deps oidc-deps
	$(BIN)/python -m pytest tests/integration

test-browser: setup browser-deps
	$(BIN)/python -m pytest tests/browser

# Chromium and its driver from Debian's packages, for the browser tests and chart exports.
browser-deps:
	@if ! command -v chromium >/dev/null 2>&1 || ! command -v chromedriver >/dev/null 2>&1; then \
	  if [ "$$(id -u)" = 0 ]; then \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver >/dev/null; \
	  else \
	    echo "browser tests need Debian's chromium and chromium-driver: sudo apt-get install -y chromium chromium-driver" >&2; exit 1; \
	  fi; \
	fi

# PostgreSQL and Redis from Debian's packages: the multi-node tests start their own servers on
# 127.0.0.1 (tests/servers.py); nothing is started here.
cluster-deps:
	@if ! ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || ! command -v redis-server >/dev/null 2>&1; then \
	  if [ "$$(id -u)" = 0 ]; then \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql redis-server >/dev/null; \
	  else \
	    echo "the multi-node tests need PostgreSQL and Redis: sudo apt-get install -y postgresql redis-server" >&2; exit 1; \
	  fi; \
	fi

# A conforming OpenID provider for the OIDC tests: panva's oidc-provider 8.x (supports Node 18+)
# from npm, pinned by tests/oidc/package-lock.json; Node.js and npm from Debian when missing.
OIDC_MODULES := tests/oidc/node_modules/.package-lock.json

$(OIDC_MODULES): tests/oidc/package.json tests/oidc/package-lock.json
	@if ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; then \
	  if [ "$$(id -u)" = 0 ]; then \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nodejs npm >/dev/null; \
	  else \
	    echo "the OpenID Connect tests need Node.js 18+ and npm: sudo apt-get install -y nodejs npm" >&2; exit 1; \
	  fi; \
	fi
	cd tests/oidc && npm ci --no-audit --no-fund --loglevel=error
	touch $(OIDC_MODULES)

oidc-deps: $(OIDC_MODULES)

lint: setup
	$(BIN)/ruff check ioc ingest tests benchmarks
	$(BIN)/ruff format --check ioc ingest tests benchmarks
	$(BIN)/mypy ioc ingest
	$(BIN)/lint-imports  # the layering: [tool.importlinter] in pyproject.toml

fmt: setup
	$(BIN)/ruff format ioc ingest tests benchmarks
	$(BIN)/ruff check --fix ioc ingest tests benchmarks

bench: setup
	$(BIN)/python -m benchmarks

## The load test of issue 7 (about 20 minutes): 200 signed-in district officers against gunicorn,
## PostgreSQL and Redis started on 127.0.0.1, probes loaded every 5 minutes (docs/operations.md)
load-bench: setup cluster-deps
	$(BIN)/python -m benchmarks.load_bench run

## First visits of the wall, a district, a ward and a school page in Chromium after probe loads
first-visit-bench: setup browser-deps
	$(BIN)/python -m benchmarks.first_visit_bench --boundaries "$(BOUNDARIES)"

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache .mypy_cache tests/oidc/node_modules
