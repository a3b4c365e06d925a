"""The results store: models, runs, per-task results, per-document samples, the request cache
and the score cache.

One :class:`Store` wraps one connection to a SQLite file or a PostgreSQL database (see
:mod:`evalkit.store.backend`); each process opens its own. Every write method is one small
transaction committed before it returns, so a run killed at any point keeps everything it had
written, and concurrent ``evalkit`` processes interleave their writes safely. The queries here are
the same on both backends.
"""

from __future__ import annotations

import json
import math
import operator
import threading
from collections.abc import Callable, Iterable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any, Self, TypeVar

from evalkit.errors import UserError
from evalkit.store.backend import Backend, Connection, IntegrityError, Row, open_backend
from evalkit.store.judgments import JudgmentsTable
from evalkit.store.records import FINAL_STATUSES, RUN_STATUSES, ResultRow, RunSummary

if TYPE_CHECKING:
    from evalkit.judge.agreement import HumanVote

T = TypeVar("T")

# SQLite builds before 3.32 allow only 999 bound variables per statement; stay well below it.
_IN_CHUNK = 500


def utc_now() -> str:
    """Return the current time as ISO-8601 UTC text with microseconds (sorts chronologically)."""
    return datetime.now(UTC).isoformat(timespec="microseconds")


def _dumps(obj: Any) -> str:
    # Configs and metadata may carry Paths or similar; storing their str() beats failing a run.
    return json.dumps(obj, ensure_ascii=False, sort_keys=True, default=str)


def _loads(text: str | None) -> Any:
    return None if text is None else json.loads(text)


def _chunks(items: list[T], size: int) -> Iterable[list[T]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def _doc_id(value: Any) -> int | str:
    # Keep integer ids as SQLite integers (numeric order); anything else is stored as text.
    if isinstance(value, bool):
        raise TypeError(f"sample doc_id must be an int or a str, not {value!r}")
    if isinstance(value, str):
        return value
    try:
        return operator.index(value)  # also accepts numpy integers
    except TypeError:
        raise TypeError(f"sample doc_id must be an int or a str, not {value!r}") from None


def _real(value: float) -> float | None:
    # NaN is stored as NULL on both backends (SQLite does so by itself; PostgreSQL would keep it),
    # so a stored NaN reads back the same from either.
    number = float(value)
    return None if math.isnan(number) else number


def _result_from_row(row: Row) -> ResultRow:
    # SQLite stores NaN as NULL, so a NULL value is a NaN that was written.
    value = math.nan if row["value"] is None else float(row["value"])
    stderr = None if row["stderr"] is None else float(row["stderr"])
    return ResultRow(row["task"], row["metric"], row["filter"], value, stderr, int(row["n"]))


#: The store setting holding the secret annotator names are hashed with (the arena's ``SALT_SETTING``).
ANNOTATOR_SALT_SETTING = "annotator_salt"


class VoteLimitReached(ValueError):
    """An annotator's vote was refused: they reached the limit of votes in the window asked for."""


class Store(JudgmentsTable):
    """A handle on the results store at ``target``; usable as a context manager.

    ``target`` is a SQLite file's path (a ``Path``, or text that is not a URL) or a
    ``postgresql://`` URL. Opening a file creates it and its folder if needed; either way the
    schema is migrated to the newest version. Raises ``UserError`` (one line) for a URL evalkit
    does not serve, a SQLite file on a network filesystem, or something that is not a store.
    A store may be shared by threads of one process (calls are serialised), but each process
    must open its own.
    """

    #: What a write that breaks the schema's constraints raises, on either backend.
    IntegrityError = IntegrityError

    def __init__(self, target: str | Path) -> None:
        self._lock = threading.RLock()
        backend = open_backend(target)
        #: What the store was opened with (a URL may hold a password: not for messages, see location).
        self.spec: str | Path = target
        #: Where the store is, for messages: the file's path, or the URL without its password.
        self.location: str = backend.location
        #: The SQLite file; ``None`` for a PostgreSQL store.
        self.file: Path | None = backend.path
        #: ``"sqlite"`` or ``"postgresql"``.
        self.dialect: str = backend.dialect
        self._backend: Backend | None = backend

    # -- lifecycle -------------------------------------------------------------------------

    def close(self) -> None:
        """Close the connection; further calls on this store fail. Closing twice is harmless."""
        with self._lock:
            if self._backend is not None:
                self._backend.close()
                self._backend = None

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"Store({self.location!r})"

    @property
    def path(self) -> Path:
        """The SQLite file of this store (``AttributeError`` for a PostgreSQL store: use :attr:`location`)."""
        if self.file is None:
            raise AttributeError(f"{self!r} is a PostgreSQL store: it has no file (see Store.location)")
        return self.file

    def _opened(self) -> Backend:
        if self._backend is None:
            raise RuntimeError(f"{self!r} is closed")
        return self._backend

    def _write(self, work: Callable[[Connection], T]) -> T:
        with self._lock:
            return self._opened().write(work)

    def _read(self, work: Callable[[Connection], T]) -> T:
        with self._lock:
            return self._opened().read(work)

    def snapshot(self, work: Callable[[Connection], T]) -> T:
        """Run ``work(conn)`` against one consistent snapshot of the store and return its result: the
        leaderboard's reads (:mod:`evalkit.leaderboard.queries`). ``conn`` runs SQL with ``:name``
        parameters that both backends accept; the work must only read."""
        return self._read(work)

    def doc_id(self, value: int | str) -> Any:
        """``value`` (a sample's doc_id) as this backend stores it, for comparing with ``samples.doc_id``."""
        return self._opened().doc_id(_doc_id(value))

    def schema_version(self) -> int:
        """Return the database's schema version (the number of the last migration applied)."""
        with self._lock:
            return self._opened().schema_version()

    def data_version(self) -> int:
        """A number that changes whenever another connection commits to the store (the leaderboard
        watches it): SQLite's ``PRAGMA data_version``; on PostgreSQL a counter every write bumps."""
        with self._lock:
            return self._opened().data_version()

    # -- models ----------------------------------------------------------------------------

    def upsert_model(
        self,
        fingerprint: str,
        name: str,
        path: str | None,
        parent_fingerprint: str | None = None,
        metadata: dict[str, Any] | None = None,
    ) -> None:
        """Register the model ``fingerprint`` or update it: ``name`` is always replaced.

        ``path``, ``parent_fingerprint`` and ``metadata`` replace the stored values only when
        given (not ``None``), so re-registering a model without them keeps its known lineage.
        ``created_at`` is kept from the first registration.
        """
        params = {
            "fingerprint": fingerprint,
            "name": name,
            "path": path,
            "parent": parent_fingerprint,
            "metadata": _dumps(metadata if metadata is not None else {}),
            "has_metadata": metadata is not None,
            "now": utc_now(),
        }
        self._write(
            lambda c: c.execute(
                """
                INSERT INTO models (fingerprint, name, path, parent_fingerprint, metadata, created_at)
                VALUES (:fingerprint, :name, :path, :parent, :metadata, :now)
                ON CONFLICT (fingerprint) DO UPDATE SET
                    name = excluded.name,
                    path = COALESCE(excluded.path, models.path),
                    parent_fingerprint = COALESCE(excluded.parent_fingerprint, models.parent_fingerprint),
                    metadata = CASE WHEN :has_metadata THEN excluded.metadata ELSE models.metadata END
                """,
                params,
            )
        )

    def get_model(self, fingerprint: str) -> dict[str, Any] | None:
        """Return the model's columns (``metadata`` decoded), or ``None`` when it is unknown."""
        row = self._read(
            lambda c: c.execute("SELECT * FROM models WHERE fingerprint = :f", {"f": fingerprint}).fetchone()
        )
        if row is None:
            return None
        model = dict(row)
        model["metadata"] = _loads(model["metadata"])
        return model

    # -- runs ------------------------------------------------------------------------------

    def create_run(
        self,
        run_id: str,
        suite: str,
        suite_sha256: str,
        model_fingerprint: str,
        model_name: str,
        config: dict[str, Any],
        output_dir: str | None,
        *,
        status: str = "running",
        started_at: str | None = None,
    ) -> None:
        """Record a new run, ``running`` and started now unless ``status``/``started_at`` say otherwise.

        Raises ``ValueError`` when ``run_id`` already exists or ``status`` is unknown.
        """
        if status not in RUN_STATUSES:
            raise ValueError(f"run status must be one of {sorted(RUN_STATUSES)}, not {status!r}")
        params = {
            "run_id": run_id,
            "suite": suite,
            "suite_sha256": suite_sha256,
            "model_fingerprint": model_fingerprint,
            "model_name": model_name,
            "config": _dumps(config),
            "output_dir": output_dir,
            "status": status,
            "started_at": started_at or utc_now(),
        }
        try:
            self._write(
                lambda c: c.execute(
                    """
                    INSERT INTO runs (run_id, suite, suite_sha256, model_fingerprint, model_name,
                                      config, output_dir, status, started_at)
                    VALUES (:run_id, :suite, :suite_sha256, :model_fingerprint, :model_name,
                            :config, :output_dir, :status, :started_at)
                    """,
                    params,
                )
            )
        except IntegrityError:
            raise ValueError(f"run {run_id!r} already exists") from None

    def finish_run(
        self, run_id: str, status: str, timing: dict[str, Any], *, finished_at: str | None = None
    ) -> None:
        """Record how run ``run_id`` ended: ``status``, ``timing`` and ``finished_at`` (default now).

        Raises ``ValueError`` for a status other than finished/failed/imported or an unknown run.
        """
        if status not in FINAL_STATUSES:
            raise ValueError(
                f"a finished run's status must be one of {sorted(FINAL_STATUSES)}, not {status!r}"
            )
        params = {"status": status, "timing": _dumps(timing), "at": finished_at or utc_now(), "run_id": run_id}
        updated = self._write(
            lambda c: (
                c.execute(
                    "UPDATE runs SET status = :status, timing = :timing, finished_at = :at WHERE run_id = :run_id",
                    params,
                ).rowcount
            )
        )
        if updated == 0:
            raise ValueError(f"no run {run_id!r}")

    def list_runs(self) -> list[RunSummary]:
        """Return every run, newest ``started_at`` first, with its number of result rows."""
        rows = self._read(
            lambda c: c.execute(
                """
                SELECT r.run_id, r.suite, r.model_name, r.model_fingerprint, r.status,
                       r.started_at, r.finished_at,
                       (SELECT COUNT(*) FROM results AS x WHERE x.run_id = r.run_id) AS n_results
                FROM runs AS r
                ORDER BY r.started_at DESC, r.rowid DESC
                """
            ).fetchall()
        )
        return [RunSummary(**dict(row)) for row in rows]

    def resolve_run_id(self, run_id: str) -> str | None:
        """Return the run id equal to ``run_id`` or, failing that, the one it is a unique prefix of.

        Returns ``None`` when nothing matches; raises ``UserError`` when the prefix is ambiguous.
        """
        if not run_id:
            return None

        def find(c: Connection) -> list[str]:
            exact = c.execute("SELECT run_id FROM runs WHERE run_id = :id", {"id": run_id}).fetchone()
            if exact is not None:
                return [exact[0]]
            # substr() rather than LIKE: run ids may contain '%' or '_'.
            rows = c.execute(
                "SELECT run_id FROM runs WHERE substr(run_id, 1, :n) = :id ORDER BY run_id LIMIT 6",
                {"n": len(run_id), "id": run_id},
            ).fetchall()
            return [r[0] for r in rows]

        matches = self._read(find)
        if len(matches) > 1:
            shown = ", ".join(matches[:5]) + (", ..." if len(matches) > 5 else "")
            raise UserError(f"run id prefix {run_id!r} is ambiguous: it matches {shown}")
        return matches[0] if matches else None

    def get_run(self, run_id: str) -> dict[str, Any] | None:
        """Return ``{'run': {...}, 'results': [ResultRow, ...]}`` for ``run_id`` or a unique prefix of it.

        ``run`` holds every column of the run with ``config`` and ``timing`` decoded (``timing``
        is ``None`` until the run finishes). Returns ``None`` when no run matches; raises
        ``UserError`` for an ambiguous prefix.
        """
        resolved = self.resolve_run_id(run_id)
        if resolved is None:
            return None

        def fetch(c: Connection) -> tuple[Row | None, list[Row]]:
            run = c.execute("SELECT * FROM runs WHERE run_id = :id", {"id": resolved}).fetchone()
            return run, c.execute(
                "SELECT * FROM results WHERE run_id = :id ORDER BY task, metric, filter", {"id": resolved}
            ).fetchall()

        run_row, result_rows = self._read(fetch)
        if run_row is None:  # deleted between resolving and fetching
            return None
        run = dict(run_row)
        run.pop("rowid", None)  # PostgreSQL's explicit insertion-order column (SQLite's is hidden)
        run["config"] = _loads(run["config"])
        run["timing"] = _loads(run["timing"])
        return {"run": run, "results": [_result_from_row(r) for r in result_rows]}

    # -- results and samples ---------------------------------------------------------------

    def add_results(self, run_id: str, rows: list[ResultRow]) -> None:
        """Store ``rows`` for run ``run_id`` in one transaction, replacing rows with the same
        (task, metric, filter). The run must exist (:class:`~evalkit.store.IntegrityError` otherwise).
        """
        if not rows:
            return
        params = [
            {
                "run_id": run_id,
                "task": r.task,
                "metric": r.metric,
                "filter": r.filter,
                "value": _real(r.value),
                "stderr": None if r.stderr is None else _real(r.stderr),
                "n": int(r.n),
            }
            for r in rows
        ]
        self._write(
            lambda c: c.executemany(
                """
                INSERT INTO results (run_id, task, metric, filter, value, stderr, n)
                VALUES (:run_id, :task, :metric, :filter, :value, :stderr, :n)
                ON CONFLICT (run_id, task, metric, filter) DO UPDATE SET
                    value = excluded.value, stderr = excluded.stderr, n = excluded.n
                """,
                params,
            )
        )

    def get_results(self, run_id: str) -> list[ResultRow]:
        """Return the results of run ``run_id`` (exact id), ordered by task, metric, filter."""
        rows = self._read(
            lambda c: c.execute(
                "SELECT * FROM results WHERE run_id = :id ORDER BY task, metric, filter", {"id": run_id}
            ).fetchall()
        )
        return [_result_from_row(r) for r in rows]

    def add_samples(self, run_id: str, task: str, records: list[dict[str, Any]]) -> None:
        """Store per-document ``records`` of ``task`` in one transaction, replacing any record with
        the same (doc_id, filter). Each record must have ``doc_id`` and ``filter`` (``ValueError``
        otherwise) and ``doc_id`` must be an int or a str (``TypeError``); a bad record fails the
        call before anything is written. The run must exist.
        """
        if not records:
            return
        params = []
        for record in records:
            missing = [key for key in ("doc_id", "filter") if key not in record]
            if missing:
                raise ValueError(f"sample record of task {task!r} lacks {', '.join(missing)}")
            params.append({"run_id": run_id, "task": task, "doc_id": _doc_id(record["doc_id"]),
                           "filter": str(record["filter"]), "record": _dumps(record)})
        encode = self._opened().doc_id
        for param in params:
            param["doc_id"] = encode(param["doc_id"])
        self._write(
            lambda c: c.executemany(
                """
                INSERT INTO samples (run_id, task, doc_id, filter, record)
                VALUES (:run_id, :task, :doc_id, :filter, :record)
                ON CONFLICT (run_id, task, doc_id, filter) DO UPDATE SET record = excluded.record
                """,
                params,
            )
        )

    def get_samples(self, run_id: str, task: str | None = None) -> list[dict[str, Any]]:
        """Return the stored records of run ``run_id`` (of ``task`` only, when given), decoded as
        they were written, ordered by task, doc_id, filter.
        """
        params = {"run_id": run_id, "task": task}
        if task is None:
            sql = "SELECT record FROM samples WHERE run_id = :run_id ORDER BY task, doc_id, filter"
        else:
            sql = "SELECT record FROM samples WHERE run_id = :run_id AND task = :task ORDER BY doc_id, filter"
        rows = self._read(lambda c: c.execute(sql, params).fetchall())
        return [json.loads(r[0]) for r in rows]

    # -- request cache ---------------------------------------------------------------------

    def cache_get_many(self, model_fingerprint: str, request_hashes: list[str]) -> dict[str, Any]:
        """Return ``{hash: response}`` for those of ``request_hashes`` cached for the model;
        misses are simply absent. Any number of hashes may be asked for at once.
        """
        unique = list(dict.fromkeys(request_hashes))
        if not unique:
            return {}

        def fetch(c: Connection) -> dict[str, Any]:
            found: dict[str, Any] = {}
            for chunk in _chunks(unique, _IN_CHUNK):
                marks = ",".join(f":h{i}" for i in range(len(chunk)))
                for request_hash, response in c.execute(
                    f"SELECT request_hash, response FROM request_cache "
                    f"WHERE model_fingerprint = :fp AND request_hash IN ({marks})",
                    {"fp": model_fingerprint, **{f"h{i}": h for i, h in enumerate(chunk)}},
                ):
                    found[request_hash] = json.loads(response)
            return found

        return self._read(fetch)

    def cache_put_many(self, model_fingerprint: str, items: list[tuple[str, Any, Any]]) -> None:
        """Cache ``(hash, request, response)`` triples for the model in one transaction, replacing
        entries with the same hash. Request and response must be JSON-serialisable (``TypeError``).
        """
        if not items:
            return
        now = utc_now()
        # Serialise strictly (no default=str): a response must decode back to what was cached.
        params = [
            {
                "fp": model_fingerprint,
                "hash": h,
                "request": json.dumps(req, ensure_ascii=False),
                "response": json.dumps(resp, ensure_ascii=False),
                "now": now,
            }
            for h, req, resp in items
        ]
        self._write(
            lambda c: c.executemany(
                """
                INSERT INTO request_cache (model_fingerprint, request_hash, request, response, created_at)
                VALUES (:fp, :hash, :request, :response, :now)
                ON CONFLICT (model_fingerprint, request_hash) DO UPDATE SET
                    request = excluded.request, response = excluded.response, created_at = excluded.created_at
                """,
                params,
            )
        )

    def cache_count(self, model_fingerprint: str) -> int:
        """Return how many responses are cached for the model."""
        return self._read(
            lambda c: int(
                c.execute(
                    "SELECT COUNT(*) FROM request_cache WHERE model_fingerprint = :fp", {"fp": model_fingerprint}
                ).fetchone()[0]
            )
        )

    # -- score cache -----------------------------------------------------------------------

    def scores_get(self, score_key: str, evalkit_version: str) -> Any | None:
        """Return the scores cached under ``score_key`` by that evalkit release, or ``None``."""
        row = self._read(
            lambda c: c.execute(
                "SELECT scores FROM score_cache WHERE score_key = :key AND evalkit_version = :version",
                {"key": score_key, "version": evalkit_version},
            ).fetchone()
        )
        return None if row is None else json.loads(row[0])

    def scores_put(self, score_key: str, evalkit_version: str, task: str, evaluator: str, scores: Any) -> None:
        """Cache ``scores`` (JSON-serialisable, ``TypeError`` otherwise) of ``task`` under ``score_key``,
        replacing an entry with the same key and release.
        """
        params = {"key": score_key, "version": evalkit_version, "task": task, "evaluator": evaluator,
                  "scores": json.dumps(scores, ensure_ascii=False), "now": utc_now()}
        self._write(
            lambda c: c.execute(
                """
                INSERT INTO score_cache (score_key, evalkit_version, task, evaluator, scores, created_at)
                VALUES (:key, :version, :task, :evaluator, :scores, :now)
                ON CONFLICT (score_key, evalkit_version) DO UPDATE SET
                    task = excluded.task, evaluator = excluded.evaluator, scores = excluded.scores,
                    created_at = excluded.created_at
                """,
                params,
            )
        )

    def scores_count(self) -> int:
        """Return how many score sets are cached (all releases)."""
        return self._read(lambda c: int(c.execute("SELECT COUNT(*) FROM score_cache").fetchone()[0]))

    # -- store settings (migration 0006) ---------------------------------------------------

    def setting(self, key: str, make: Callable[[], str]) -> str:
        """The store setting ``key``; made with ``make()`` and stored when absent (race-free: the first
        writer wins and every process reads its value)."""
        def get_or_make(c: Connection) -> str:
            c.execute("INSERT INTO store_settings (key, value) VALUES (:key, :value) ON CONFLICT (key) DO NOTHING",
                      {"key": key, "value": make()})
            return str(c.execute("SELECT value FROM store_settings WHERE key = :key", {"key": key}).fetchone()[0])

        return self._write(get_or_make)

    # -- battles and votes (human preferences; rated by `evalkit elo --store`) ---------------

    _CHOICES = ("model_a", "model_b", "tie", "tie (bothbad)")

    def add_battle(self, question_id: str, model_a: str, model_b: str, *, shown_left: str = "model_a",
                   annotator: str | None = None) -> int:
        """Record that ``model_a``'s and ``model_b``'s answers to ``question_id`` were shown; return its id.

        ``shown_left`` is ``"model_a"`` or ``"model_b"``; ``annotator`` a salted hash, never a name.
        """
        if shown_left not in ("model_a", "model_b"):
            raise ValueError(f"shown_left must be 'model_a' or 'model_b', not {shown_left!r}")
        if model_a == model_b:
            raise ValueError(f"a battle needs two different models, got {model_a!r} twice")
        params = {"now": utc_now(), "question_id": question_id, "model_a": model_a, "model_b": model_b,
                  "shown_left": shown_left, "annotator": annotator}
        return self._write(lambda c: int(c.execute(
            "INSERT INTO battles (created_at, question_id, model_a, model_b, shown_left, annotator) "
            "VALUES (:now, :question_id, :model_a, :model_b, :shown_left, :annotator) RETURNING id", params,
        ).fetchone()[0]))

    def add_vote(self, battle_id: int, annotator: str, choice: str, *,
                 at_most: tuple[int, str] | None = None) -> None:
        """Record the one vote of battle ``battle_id``; a second vote on it raises ``ValueError``.

        ``at_most=(n, since)``: refuse (:class:`VoteLimitReached`) when ``annotator`` already has ``n``
        votes created at or after ``since`` (ISO-8601 UTC). The count and the insert are one write
        transaction, so concurrent sessions of one annotator cannot both slip under the limit.
        """
        if choice not in self._CHOICES:
            raise ValueError(f"choice must be one of {', '.join(self._CHOICES)}, not {choice!r}")

        def insert(c: Connection) -> None:
            if c.execute("SELECT 1 FROM battles WHERE id = :id", {"id": battle_id}).fetchone() is None:
                raise ValueError(f"no battle {battle_id}")
            if at_most is not None:
                recent = c.execute("SELECT COUNT(*) FROM votes WHERE annotator = :who AND created_at >= :since",
                                   {"who": annotator, "since": at_most[1]}).fetchone()[0]
                if recent >= at_most[0]:
                    raise VoteLimitReached(f"annotator has {recent} votes since {at_most[1]} (limit {at_most[0]})")
            # DO NOTHING rather than catching the UNIQUE violation: on PostgreSQL an error aborts the
            # whole transaction, so the second vote is told apart by the row not being inserted.
            inserted = c.execute(
                "INSERT INTO votes (battle_id, annotator, choice, created_at) VALUES (:id, :who, :choice, :now) "
                "ON CONFLICT (battle_id) DO NOTHING",
                {"id": battle_id, "who": annotator, "choice": choice, "now": utc_now()}).rowcount
            if not inserted:
                raise ValueError(f"battle {battle_id} already has a vote")

        self._write(insert)

    def import_votes(self, votes: Sequence[HumanVote], source: str) -> int:
        """Record people's ``votes`` from ``source`` (e.g. the votes file's name) as battles with their vote,
        in one transaction; return how many were added.

        Each vote is keyed (``battles.source_key``, migration 0007) by a hash of (source, question_id,
        model_a, model_b, winner, annotator, k), k numbering identical tuples within ``votes``: importing
        the same votes again adds nothing, while two identical votes of one import both count. A named
        annotator is stored as :func:`evalkit.ratings.votes.annotator_id` with this store's annotator salt
        (the arena's); a vote without one gets an id of its own, made from its key.
        Raises ``ValueError`` (nothing written) for an unknown winner or a model against itself.
        """
        import hashlib
        import secrets

        from evalkit.ratings.votes import annotator_id

        for vote in votes:
            if vote.winner not in self._CHOICES:
                raise ValueError(f"winner must be one of {', '.join(self._CHOICES)}, not {vote.winner!r}")
            if vote.model_a == vote.model_b:
                raise ValueError(f"a vote needs two different models, got {vote.model_a!r} twice")

        def insert(c: Connection) -> int:
            c.execute("INSERT INTO store_settings (key, value) VALUES (:key, :value) ON CONFLICT (key) DO NOTHING",
                      {"key": ANNOTATOR_SALT_SETTING, "value": secrets.token_hex(16)})
            salt = str(c.execute("SELECT value FROM store_settings WHERE key = :key",
                                 {"key": ANNOTATOR_SALT_SETTING}).fetchone()[0])
            occurrences: dict[tuple[str, str, str, str, str | None], int] = {}
            added = 0
            now = utc_now()
            for vote in votes:
                same = (vote.question_id, vote.model_a, vote.model_b, vote.winner, vote.annotator)
                k = occurrences[same] = occurrences.get(same, -1) + 1
                key = hashlib.sha256(json.dumps([source, *same, k]).encode()).hexdigest()
                # An unknown annotator is a person of their own: an id made from the vote's key (its source and
                # place among identical votes), so no two imported votes share one, and no typed name is it.
                annotator = annotator_id(vote.annotator if vote.annotator is not None else f"\0unknown\0{key}",
                                         salt)
                battle = c.execute(
                    "INSERT INTO battles (created_at, question_id, model_a, model_b, annotator, source_key) "
                    "VALUES (:now, :question_id, :model_a, :model_b, :who, :key) ON CONFLICT (source_key) DO NOTHING "
                    "RETURNING id",
                    {"now": now, "question_id": vote.question_id, "model_a": vote.model_a,
                     "model_b": vote.model_b, "who": annotator, "key": key}).fetchone()
                if battle is not None:
                    c.execute("INSERT INTO votes (battle_id, annotator, choice, created_at) "
                              "VALUES (:id, :who, :choice, :now)",
                              {"id": battle[0], "who": annotator, "choice": vote.winner, "now": now})
                    added += 1
            return added

        return self._write(insert)

    def list_votes(self) -> list[tuple[str, str, str]]:
        """Every vote as (model_a, model_b, choice), in the order the votes were cast."""
        rows = self._read(lambda c: c.execute(
            "SELECT b.model_a, b.model_b, v.choice FROM votes v JOIN battles b ON b.id = v.battle_id "
            "ORDER BY v.created_at, v.id").fetchall())
        return [(r[0], r[1], r[2]) for r in rows]

    def judgment_votes(self) -> list[tuple[str, str, str]]:
        """Stored judge verdicts as votes (model_a, model_b, win|loss|tie), in storing order.

        Unscored judgments are not votes and are left out. Raises ``UserError`` when the store
        has no judgments table (written by ``evalkit judge``).
        """
        with self._lock:
            if not self._opened().has_table("judgments"):
                raise UserError(f"{self.location}: no judge verdicts in this store (evalkit judge stores them)")
            rows = self._read(lambda c: c.execute("SELECT model_a, model_b, outcome FROM judgments "
                                                  "WHERE outcome IN ('win', 'loss', 'tie') ORDER BY id").fetchall())
        return [(r[0], r[1], r[2]) for r in rows]

    # -- lineage ---------------------------------------------------------------------------

    _LINEAGE_JSON = ("config", "loss_curve", "versions")
    _LINEAGE_COLUMNS = ("kind", "method", "adapter", "parent_model", "parent_fingerprint", "config",
                        "dataset_fingerprint", "dataset_rows", "steps", "wall_s", "final_loss", "loss_curve",
                        "merge_mode", "versions", "created_at")

    def put_lineage(self, fingerprint: str, path: str | None, record: dict[str, Any]) -> None:
        """Record how the checkpoint ``fingerprint`` was made, replacing an earlier record of it.

        ``record`` has the fields of ``evalkit.harness.lineage.LineageRecord`` (missing optional
        ones are stored as NULL/empty; unknown keys raise ``ValueError``, a record the store
        would silently truncate). ``created_at`` defaults to now.
        """
        unknown = set(record) - set(self._LINEAGE_COLUMNS)
        if unknown:
            raise ValueError(f"lineage record has unknown fields: {', '.join(sorted(unknown))}")
        params: dict[str, Any] = {column: record.get(column) for column in self._LINEAGE_COLUMNS}
        for column in self._LINEAGE_JSON:
            params[column] = _dumps(params[column] if params[column] is not None
                                    else ([] if column == "loss_curve" else {}))
        params.update(fingerprint=fingerprint, path=path, created_at=record.get("created_at") or utc_now())
        columns = ("fingerprint", "path", *self._LINEAGE_COLUMNS)
        updates = ", ".join(f"{col} = excluded.{col}" for col in columns if col != "fingerprint")
        self._write(
            lambda c: c.execute(
                f"INSERT INTO lineage ({', '.join(columns)}) VALUES ({', '.join(':' + col for col in columns)}) "
                f"ON CONFLICT (fingerprint) DO UPDATE SET {updates}",
                params,
            )
        )

    def get_lineage(self, fingerprint: str) -> dict[str, Any] | None:
        """Return the lineage record of ``fingerprint`` (JSON columns decoded), or ``None``."""
        row = self._read(
            lambda c: c.execute("SELECT * FROM lineage WHERE fingerprint = :f", {"f": fingerprint}).fetchone()
        )
        if row is None:
            return None
        record = dict(row)
        for column in self._LINEAGE_JSON:
            record[column] = _loads(record[column])
        return record

    def latest_results(self, model_fingerprint: str) -> tuple[str, list[ResultRow]] | None:
        """Return ``(run_id, results)`` of the model's most recently finished run, or ``None``."""
        row = self._read(
            lambda c: c.execute(
                """
                SELECT run_id FROM runs WHERE model_fingerprint = :fp AND status = 'finished'
                ORDER BY finished_at DESC, rowid DESC LIMIT 1
                """,
                {"fp": model_fingerprint},
            ).fetchone()
        )
        if row is None:
            return None
        return row["run_id"], self.get_results(row["run_id"])
