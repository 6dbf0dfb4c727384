# Two commands matter on a fresh clone: `make run` and `make test`. Both create .venv
# and install kvgate with its dev tools first; nothing else needs installing by hand.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp
ENGINES ?= 4
PROFILE ?= h100-llama3-8b

.PHONY: install run test lint format clean peers

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

run: $(STAMP)
	$(BIN)/kvgate-bench up --engines $(ENGINES) --profile $(PROFILE)

test: $(STAMP)
	$(BIN)/python -m pytest -q

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

format: $(STAMP)
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache *.egg-info

# The other routers the benchmark compares with (shared/design/PEERS.md), each in its own
# venv under .peers/ (git-ignored): smg, sglang-router, vllm-router, litellm, envoy.
# `make peers PEERS="smg envoy"` installs a few; `kvgate-bench peers list` shows what is there.
PEERS ?=
peers: $(STAMP)
	$(BIN)/kvgate-bench peers install $(PEERS)
