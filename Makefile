# Sluice — the two commands that matter: `make run` and `make test`. Both set everything up first.
SHELL := /bin/bash
PYTHON ?= python3
export UV_PYTHON_DOWNLOADS := never
# Compile bytecode at install time: the environment may forbid writing .pyc files later, and
# importing FastAPI and SQLAlchemy from source on every start would slow `sluice server start`.
export UV_COMPILE_BYTECODE := 1
UV := $(shell command -v uv 2>/dev/null || echo "$(PYTHON) -m uv")
VENV := .venv
BIN := $(VENV)/bin

.PHONY: install test lint bench soak services azurite run clean

# Create .venv with uv (installing uv with pip when missing) and install the workspace with every plugin.
install: $(VENV)/.installed

$(VENV)/.installed: uv.lock pyproject.toml $(wildcard */pyproject.toml */*/pyproject.toml)
	@command -v uv >/dev/null 2>&1 || $(PYTHON) -m uv --version >/dev/null 2>&1 || $(PYTHON) -m pip install --quiet uv
	$(UV) sync --locked --all-packages --python $(PYTHON)
	@# The workspace's own packages are editable installs, which uv does not compile: do it here so
	@# every `sluice` command starts from bytecode even where PYTHONDONTWRITEBYTECODE is set.
	$(BIN)/python -m compileall -q core/src plugins storage_plugins infra_plugins schedule_plugins
	@touch $@

# The whole test suite. Tests needing a real server skip with the reason unless SLUICE_REQUIRE_SERVICES=1.
test: install azurite
	$(BIN)/pytest $(PYTEST_ARGS)

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

# A local Sluice: the API server on SQLite (SLUICE_HOME, default .sluice/ here), an agent on the
# 'default' queue and the example deployments. Ctrl-C stops everything.
run: install
	$(BIN)/python scripts/run_local.py

# Benchmarks: each prints its figures one per line.
bench: install
	@for script in bench/bench_*.py; do $(BIN)/python $$script || exit 1; done

# The soak (several minutes): 2 replicas on a private PostgreSQL, 4 agents, 2,000 runs, faults on a timer;
# prints runs lost / duplicated / stuck (all 0, or it fails). SOAK_RUNS and SOAK_FAULT_SECONDS resize it.
soak: install
	$(BIN)/python bench/soak.py

# System packages the real-server tests need (run as root; CI calls it).
SERVICE_PACKAGES := podman runc busybox-static chromium samba git postgresql-15
services:
	@if [ -n "$(strip $(SERVICE_PACKAGES))" ]; then \
		missing=$$(for p in $(SERVICE_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || echo $$p; done); \
		if [ -n "$$missing" ]; then \
			apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $$missing; \
		fi; \
	fi
	@$(MAKE) --no-print-directory azurite

# Azurite (the Azure Blob emulator) for the azure storage tests: from npm, into the project, never global.
AZURITE_DIR := tests/services/azurite
azurite: $(AZURITE_DIR)/node_modules/.installed

$(AZURITE_DIR)/node_modules/.installed: $(AZURITE_DIR)/package-lock.json
	@if command -v npm >/dev/null 2>&1; then \
		cd $(AZURITE_DIR) && npm ci --no-audit --no-fund --loglevel=error && touch node_modules/.installed; \
	else \
		echo "npm not found: the azure storage tests will skip (install Node.js and npm)"; \
	fi

clean:
	rm -rf $(VENV)
