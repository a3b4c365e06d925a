"""Benchmarks declared as lm-evaluation-harness task files (lm-eval 0.4.13's YAML schema).

Modules, each with one job:

- ``schema``: the typed shape of a task file and a group file (lm-eval's field names, verbatim);
- ``loader``: YAML with positions, ``include``, ``!function`` references, groups, static checks;
- ``templates``: Jinja in a sandbox and lm-eval's "column, else template" resolution rules;
- ``builtins``: named functions for the standard tasks, and recognition of lm-eval's own helpers;
- ``metrics``: lm-eval's metric registry (per-item values, aggregations, standard errors);
- ``filters``: lm-eval's filter registry;
- ``samplers``: lm-eval's few-shot samplers (``first_n`` and the seeded default);
- ``task``: the evaluator that turns a loaded task into requests and scores.
"""
