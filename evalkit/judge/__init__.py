"""LLM-as-a-judge: answers compared by a judge model, and the judge checked against people's votes.

Modules: ``questions`` (the question files), ``pairs`` (given answer pairs and vote files), ``prompts``
(versioned judge prompts), ``verdicts`` (parsing a judge's text), ``protocol`` (the text protocol:
pairwise with swapped positions, single, reference-guided), ``probability_protocol`` (verdicts read
from probabilities), ``engine_judge`` (a ``local:`` judge in evalkit's engine), ``client`` (the
OpenAI-compatible client: concurrency, retries, a cache, log-probabilities), ``server``
(``transformers serve``, the previous local path, which ``bench/judge_speed.py`` times), ``stats``
(win rates, intervals, position consistency), ``agreement`` (agreement with people), ``answers``
(each contestant's answers through the engine).
"""
