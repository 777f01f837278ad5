# Two commands do the main work on a fresh machine:
#   make demo   trains on real data, registers the model, and serves it from the edge agent
#   make test   runs the test suite
# Each creates the virtual environment in .venv with the pinned versions from constraints.txt.
# `make bench` measures the agent against the alternatives (about 20 min); the report is docs/benchmarks.md.

PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
ARGS ?=

.PHONY: demo test test-machine bench install install-dev lock clean

demo: $(VENV)/.installed
	$(BIN)/cps-cloud demo $(ARGS)

test: $(VENV)/.installed-dev test-machine
	$(BIN)/pytest $(ARGS)

# PostgreSQL, wrk, arm64 emulation and a Docker engine, which the tests start or drive themselves.
test-machine:
	bash .ci/setup-test-machine.sh

bench: $(VENV)/.installed-dev
	$(BIN)/python -m bench $(ARGS)

install: $(VENV)/.installed
install-dev: $(VENV)/.installed-dev

$(VENV)/.created:
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info[:2] >= (3, 11) else "Python 3.11 or newer is needed, found " + sys.version.split()[0] + "; set PYTHON=/path/to/python3.11")'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	touch $@

$(VENV)/.installed: $(VENV)/.created constraints.txt edge-agent/pyproject.toml cloud/pyproject.toml
	$(BIN)/python -m pip install -c constraints.txt -e ./edge-agent -e ./cloud
	touch $@

$(VENV)/.installed-dev: $(VENV)/.installed requirements-dev.txt
	$(BIN)/python -m pip install --quiet -c constraints.txt -r requirements-dev.txt
	touch $@

# Re-pin every dependency to what is installed now.
lock: $(VENV)/.installed-dev
	{ sed -n '1,2p' constraints.txt; $(BIN)/python -m pip freeze --exclude-editable; } > constraints.txt.new
	mv constraints.txt.new constraints.txt

clean:
	rm -rf $(VENV) mlruns data logs edge-state
