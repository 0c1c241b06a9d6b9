# Two entry points: `make sweep` (the main job) and `make test`.
# Both create .venv when it is missing or older than pyproject.toml and install the package into it.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: sweep test test-all bench gate lint install clean

install: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -e '.[dev]'
	touch $(STAMP)

sweep: $(STAMP)
	$(BIN)/python -m bench sweep $(ARGS)

# The suite runs on two processes (pytest-xdist), within 3 minutes on 2 cores. The heavy fault tests
# (SIGKILL, Ctrl-C, cell timeouts, submitit tasks: about a minute and a half) run after it, alone, so that
# no other test competes with their timeouts: in CI (CI set) and with `make test-all`.
test: $(STAMP)
	$(BIN)/python -m pytest -n 2 -m "not heavy" $(ARGS)
	$(if $(CI),$(BIN)/python -m pytest -m heavy $(ARGS))

test-all: $(STAMP)
	$(BIN)/python -m pytest -n 2 -m "not heavy" $(ARGS)
	$(BIN)/python -m pytest -m heavy $(ARGS)

# Speed benchmarks (not part of `make test`): the suite's trainer vs the design's loop, SSIM vs scikit-image,
# training throughput in each precision the machine runs natively.
bench: $(STAMP)
	mkdir -p .benchmarks
	$(BIN)/python -m pytest tests/benchmarks -o addopts="" -q --benchmark-json=.benchmarks/latest.json
	$(BIN)/python tests/benchmarks/ratios.py .benchmarks/latest.json

# Lint: ruff (rules and format) and mypy on the package; CI runs it.
lint: $(STAMP)
	$(BIN)/ruff check bench denoiser
	$(BIN)/ruff format --check bench denoiser
	$(BIN)/mypy

# The CI regression gate: the tiny sweep, then its comparison with the committed baseline.
gate: $(STAMP)
	$(BIN)/python -m bench sweep configs/ci.yaml --out results/ci --fresh --quiet
	$(BIN)/python -m bench check results/ci --baseline results/baselines/ci.json

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache
