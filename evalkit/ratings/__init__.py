"""Ratings from pairwise outcomes: online Elo and Bradley–Terry, as pure functions over arrays.

``elo`` and ``bradley_terry`` follow FastChat's formulas; ``bootstrap`` gives seeded intervals and
ranks; ``votes`` reads vote logs (CSV, JSONL, the store) into arrays. No I/O in the math modules.
"""
