"""lm-evaluation-harness as the reference, run offline on the same data as evalkit.

Shared by the parity tests (``tests/evaluators``) and the comparisons in ``bench/``. These modules
need the ``test`` extra (``lm-eval``); they import it only when a function is called.
"""
