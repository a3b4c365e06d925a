"""The CUDA paths, checked on a GPU machine (no GPU is needed anywhere else; CI never runs this).

    python bench/cuda_check.py TOKENIZER_DIR

Builds a small random Llama with the given tokenizer, then on CUDA in float32:
1. `--batch-size auto` picks a batch size (printed);
2. shared-prefix log-likelihoods equal the plain path's (max |Δ| printed, must be ≤ 1e-4);
3. continuous-batching greedy decoding equals one-at-a-time generate (identical texts);
4. `evalkit run --device cuda --batch-size auto` on a small suite gives the CPU run's numbers.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import torch
from transformers import AutoTokenizer, LlamaConfig, LlamaForCausalLM

from evalkit.engine.hf import HFBackend
from evalkit.engine.requests import GenerateUntil, Loglikelihood

FEWSHOT = "".join(f"Question {i}: what is {i} plus {i}?\nAnswer: {2 * i}\n\n" for i in range(1, 6))


def collect(method, requests):  # type: ignore[no-untyped-def]
    out = [None] * len(requests)
    method(requests, lambda idx, resps: [out.__setitem__(i, r) for i, r in zip(idx, resps)])
    return out


def main() -> None:
    tok_dir = Path(sys.argv[1])
    tmp = Path(tempfile.mkdtemp())
    tokenizer = AutoTokenizer.from_pretrained(tok_dir)
    config = LlamaConfig(vocab_size=len(tokenizer), hidden_size=256, intermediate_size=512, num_hidden_layers=4,
                         num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=2048,
                         bos_token_id=tokenizer.bos_token_id, eos_token_id=tokenizer.eos_token_id,
                         pad_token_id=tokenizer.pad_token_id)
    torch.manual_seed(0)
    model = LlamaForCausalLM(config)
    model.save_pretrained(tmp / "model")
    tokenizer.save_pretrained(tmp / "model")
    model = model.to("cuda").eval()
    print("device:", torch.cuda.get_device_name(0), flush=True)

    auto = HFBackend(model, tokenizer, batch_size="auto")
    print("batch-size auto ->", auto.batch_size, flush=True)

    requests = [Loglikelihood(FEWSHOT + f"Question {q}: what is {q} plus {q}?\nAnswer:", f" {c}")
                for q in range(6, 30) for c in (q, 2 * q, "a lot", "\n\nQuestion")]
    plain = collect(HFBackend(model, tokenizer, batch_size=16, prefix_cache=False).loglikelihood, requests)
    shared = collect(HFBackend(model, tokenizer, batch_size=16, prefix_cache=True).loglikelihood, requests)
    worst = max(abs(a[0] - b[0]) for a, b in zip(plain, shared))
    print(f"prefix vs plain on cuda: max |Δ loglik| = {worst:.2e} over {len(requests)} requests", flush=True)
    assert worst <= 1e-4 and [a[1] for a in plain] == [b[1] for b in shared]

    prompts = [FEWSHOT + f"Question {q}:" for q in range(6, 22)]
    gens = [GenerateUntil(p, ("\n\n", "Question"), 8 + (i % 5) * 6) for i, p in enumerate(prompts)]
    one = collect(HFBackend(model, tokenizer, batch_size=1, continuous_decoding=False).generate_until, gens)
    cont = collect(HFBackend(model, tokenizer, batch_size=8, continuous_decoding=True).generate_until, gens)
    same = sum(a == b for a, b in zip(one, cont))
    print(f"continuous decoding on cuda: {same}/{len(gens)} identical to one-at-a-time generate", flush=True)

    (tmp / "texts.jsonl").write_text("".join(json.dumps({"text": FEWSHOT * k}) + "\n" for k in (1, 2, 3)))
    (tmp / "qa.jsonl").write_text("".join(json.dumps({"prompt": p, "references": ["2"]}) + "\n" for p in prompts))
    (tmp / "s.yaml").write_text(
        "suite: cuda\ntasks:\n  - name: ppl\n    evaluator: perplexity\n"
        "    dataset: {path: json, data_files: texts.jsonl}\n"
        "  - name: gen\n    evaluator: generation_metrics\n    dataset: {path: json, data_files: qa.jsonl}\n"
        "    metrics: [bleu, chrf]\n    until: [\"Question\"]\n    generation: {max_gen_toks: 16}\n")
    results = {}
    for device, batch in (("cuda", "auto"), ("cpu", "4")):
        env = {**os.environ, "EVALKIT_HOME": str(tmp / f"home-{device}"), "EVALKIT_PROGRESS": "0"}
        proc = subprocess.run([sys.executable, "-m", "evalkit.cli", "run", str(tmp / "s.yaml"), "--model",
                               str(tmp / "model"), "--device", device, "--batch-size", batch, "--output",
                               str(tmp / f"out-{device}")], env=env, capture_output=True, text=True)
        print(f"evalkit run --device {device} --batch-size {batch}: exit {proc.returncode}", flush=True)
        if proc.returncode:
            print(proc.stderr[-3000:])
            continue
        results[device] = json.loads((tmp / f"out-{device}" / "results.json").read_text())["results"]
        print(proc.stdout)
    if len(results) == 2:
        a, b = results["cuda"], results["cpu"]
        ppl_rel = abs(a["ppl"]["word_perplexity,none"] / b["ppl"]["word_perplexity,none"] - 1)
        print(f"cuda vs cpu: word_perplexity relative difference {ppl_rel:.2e}; "
              f"bleu {a['gen']['bleu,none']:.4f} vs {b['gen']['bleu,none']:.4f}")


if __name__ == "__main__":
    main()
