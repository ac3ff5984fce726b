# Two commands for a newcomer: `make run` and `make test`. Both create .venv and
# install the project into it; nothing else is needed but Python 3.11 and make.
PYTHON ?= python3.11
VENV ?= .venv
BIN := $(VENV)/bin
INSTALLED := $(VENV)/.installed

.PHONY: run test lint bench system-packages cluster-demo clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV) || python3 -m venv $(VENV)

$(INSTALLED): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $@

# The simulated checkpoint (when no camera is configured) composites the labelled face
# photos of ../shared/data/faces where they are; elsewhere its faces are synthetic.
SIM_FACES := $(wildcard ../shared/data/faces/labels)
run: $(INSTALLED)
	$(if $(SIM_FACES),DICHTE_SIM_FACES_DIR=$${DICHTE_SIM_FACES_DIR:-$(abspath ../shared/data/faces)}) $(BIN)/dichte run

# A head and a worker node on this machine, dichte deployed over both (see README,
# "Running on a cluster").
cluster-demo: $(INSTALLED)
	$(if $(SIM_FACES),DICHTE_SIM_FACES_DIR=$${DICHTE_SIM_FACES_DIR:-$(abspath ../shared/data/faces)}) $(BIN)/dichte cluster-demo

# Browser tests drive Debian's Chromium, the monitoring tests Debian's Prometheus (and
# its promtool); install them when we may (root + apt), else those tests are skipped
# and say why (in CI they fail instead).
SYSTEM_PACKAGES := /usr/bin/chromium:chromium /usr/bin/prometheus:prometheus
system-packages:
	@missing=""; for pair in $(SYSTEM_PACKAGES); do \
		[ -x "$${pair%%:*}" ] || missing="$$missing $${pair#*:}"; done; \
	if [ -n "$$missing" ] && [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
		echo "installing$$missing for the page and monitoring tests"; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing >/dev/null; \
	fi

test: $(INSTALLED) system-packages
	$(BIN)/python -m pytest

# mypy does not read the editable install's import hook that maps dichte.api -> api/:
# it reads the tree through a link named `dichte` instead.
PACKAGES := domain models store services actors api serving cli
MYPY_PATH := $(VENV)/mypy-path
lint: $(INSTALLED)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	@mkdir -p $(MYPY_PATH) && ln -sfn $(CURDIR) $(MYPY_PATH)/dichte
	MYPYPATH=$(MYPY_PATH) $(BIN)/mypy $(foreach p,$(PACKAGES),-p dichte.$(p))

bench: $(INSTALLED)
	cd bench && ../$(BIN)/python declarations.py && ../$(BIN)/python checkins.py && ../$(BIN)/python tracing.py && ../$(BIN)/python tracing_wave.py && ../$(BIN)/python thermal.py && ../$(BIN)/python qr.py && ../$(BIN)/python faces.py && ../$(BIN)/python checkpoint.py && ../$(BIN)/python forwarder.py && ../$(BIN)/python reports.py && ../$(BIN)/python iris.py && ../$(BIN)/python cluster.py

clean:
	rm -rf $(VENV) var .pytest_cache .mypy_cache .ruff_cache
