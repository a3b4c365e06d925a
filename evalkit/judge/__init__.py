"""LLM-as-a-judge: two checkpoints answer the same questions, a judge model compares the answers.

Modules: ``questions`` (the question files), ``prompts`` (versioned judge prompts), ``verdicts``
(parsing a judge's output), ``protocol`` (pairwise with swapped positions, single, reference-guided),
``stats`` (win rates, intervals, position consistency), ``client`` (one OpenAI-compatible client path
with concurrency, retries and a cache), ``server`` (``transformers serve`` for a ``local:`` judge),
``answers`` (each contestant's answers through the engine).
"""
