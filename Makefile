# Two commands: `make run` (set up everything, start the chat window + API) and `make test`.
PY      ?= python3
VENV    := .venv
BIN     := $(VENV)/bin
STAMP   := $(VENV)/.installed-stamp

.PHONY: run test test-fast setup models index browser bench eval clean

run: setup
	$(BIN)/rag serve

test: setup browser
	$(BIN)/pytest -q

# The fast tests only: fake models, no browser (a minute or two; `make test` is the whole suite).
test-fast: $(STAMP)
	$(BIN)/pytest -q -m "not real and not browser"

setup: $(STAMP) models index

$(STAMP): pyproject.toml
	test -d $(VENV) || $(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[test]'
	touch $(STAMP)

models: $(STAMP)
	$(BIN)/rag models fetch

index: $(STAMP)
	$(BIN)/rag index build

# Debian's Chromium for the browser test (no browser download from a test tool).
browser:
	@command -v chromium >/dev/null 2>&1 || { apt-get update -qq && apt-get install -y -qq chromium >/dev/null; }

# Refresh the README's screenshots in docs/ on purpose (`make test` writes them to a temporary folder).
.PHONY: screenshots
screenshots: setup browser
	RAG_SCREENSHOTS=$(CURDIR)/docs $(BIN)/pytest -q tests/test_ui_browser.py

bench: setup
	$(BIN)/python scripts/bench.py

eval: setup
	$(BIN)/rag eval

clean:
	rm -rf $(VENV) index/build-* index/CURRENT

# Security probes against a live server (see README: Security).
.PHONY: fuzz loadtest
fuzz: setup
	$(BIN)/python scripts/fuzz_api.py

loadtest: setup
	$(BIN)/python scripts/loadtest.py

# vLLM (CPU build, own venv under the model cache) serving the packaged model for RAG_ANSWER_MODE=generated;
# and the benchmark of the default mode against the vLLM-backed generated mode (README: Use a bigger model).
.PHONY: vllm bench-backends
vllm: setup
	$(BIN)/python scripts/vllm_server.py serve

bench-backends: setup
	$(BIN)/python scripts/bench_backends.py
