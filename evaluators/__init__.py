"""evalkit.evaluators: one module per evaluator, each registered by name with
:func:`evalkit.evaluator.register_evaluator`. Adding a module here is all it takes."""
