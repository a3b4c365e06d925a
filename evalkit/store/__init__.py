"""The results store: one database shared by every evalkit process, a SQLite file (the default) or a
PostgreSQL database (``postgresql://...``, for several machines).

It records models (with lineage), runs, per-task results, per-document samples, the request cache
(model answers), the score cache (evaluators' scores of those answers), judgments, answers, and arena
battles with their votes. Import :class:`Store` from here; the submodules are implementation details
(``backend`` for the interface and store URLs, ``sqlite_backend``/``db`` and ``postgres`` for the two
databases, ``records`` for row types, ``transfer`` for copying between stores, ``export`` and
``lm_eval_import`` for file formats).
"""

from evalkit.store.backend import IntegrityError, check_store_spec, is_url
from evalkit.store.paths import default_store_path
from evalkit.store.records import ResultRow, RunSummary
from evalkit.store.store import Store

__all__ = ["IntegrityError", "ResultRow", "RunSummary", "Store", "check_store_spec", "default_store_path", "is_url"]
