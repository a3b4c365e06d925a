"""The results store: one SQLite database shared by every evalkit process.

It records models (with lineage), runs, per-task results, per-document samples, the
request cache (model answers) and the score cache (evaluators' scores of those answers).
Import :class:`Store` from here; the submodules are implementation details (``db`` for
connections and migrations, ``records`` for row types, ``export`` and ``lm_eval_import`` for
file formats).
"""

from evalkit.store.backend import IntegrityError, check_store_spec, is_url
from evalkit.store.paths import default_store_path
from evalkit.store.records import ResultRow, RunSummary
from evalkit.store.store import Store

__all__ = ["IntegrityError", "ResultRow", "RunSummary", "Store", "check_store_spec", "default_store_path", "is_url"]
