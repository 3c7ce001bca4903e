# Two commands for a newcomer: `make run` and `make test`. Everything else is set up on the way.
SHELL := /bin/bash
PYTHON ?= python3
UV := $(PYTHON) -m uv
VENDOR := src/relaydesk/web/static/vendor
export UV_PYTHON_DOWNLOADS := never

.PHONY: setup run test bench lint format clean

## setup: install uv, the Python environment and the front-end libraries
setup: .venv/.synced $(VENDOR)/.installed

.venv/.synced: pyproject.toml uv.lock
	@$(UV) --version >/dev/null 2>&1 || $(PYTHON) -m pip install --user --quiet uv \
		|| $(PYTHON) -m pip install --user --quiet --break-system-packages uv
	$(UV) sync --frozen
	@touch $@

node_modules/.package-lock.json: package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error

$(VENDOR)/.installed: node_modules/.package-lock.json
	mkdir -p $(VENDOR)
	cp node_modules/htmx.org/dist/htmx.min.js $(VENDOR)/
	cp node_modules/uplot/dist/uPlot.iife.min.js node_modules/uplot/dist/uPlot.min.css $(VENDOR)/
	@touch $@

## run: migrate the embedded SQLite database, load the demo, serve on http://127.0.0.1:8000
run: setup
	$(UV) run relaydesk migrate
	@echo "Demo sign-ins:"
	@$(UV) run relaydesk demo | $(UV) run python -m json.tool --no-ensure-ascii
	RELAYDESK_ALLOW_HTTP_LOOPBACK_WEBHOOKS=1 $(UV) run relaydesk serve

## test: the whole suite (SQLite, and PostgreSQL + Redis when reachable; browser tests in chromium),
## one pytest process per core (TEST_WORKERS=0 runs it in one)
TEST_WORKERS ?= auto
test: setup /usr/bin/chromium
	$(UV) run pytest -n $(TEST_WORKERS) $(PYTEST_ARGS)

/usr/bin/chromium:
	@echo "Installing Debian's chromium for the browser tests"
	apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium

## bench: chat delivery under load next to a bare baseline, the analytics reads on 100,000 chat
## sessions, the server's memory during the CSV exports at 10,000 and 100,000 rows, and a
## broadcast delivered to 1,000,000 end users (SQLite; PostgreSQL + Redis when reachable);
## writes docs/performance.md.
## Options: make bench BENCH_ARGS="--suite exports" (or analytics, chat, broadcasts; --quick,
## --backends sqlite; --help lists all)
bench: setup
	$(UV) run python -m bench.run $(BENCH_ARGS)

lint: setup
	$(UV) run ruff check src tests migrations bench
	$(UV) run ruff format --check src tests migrations bench

format: setup
	$(UV) run ruff format src tests migrations bench
	$(UV) run ruff check --fix src tests migrations bench

clean:
	rm -rf .venv node_modules $(VENDOR) .pytest_cache .ruff_cache
