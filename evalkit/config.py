"""Run configuration, parsed once at the edge: the environment and the settings of one run.

The command line reads ``os.environ`` once into an :class:`Environment` and installs it with
:func:`set_environment`; nothing below it reads the environment. Library code takes the values as
parameters where it can, and otherwise asks :func:`current_environment`, which answers the
library defaults (``~/.evalkit``, ``~/.cache/evalkit``, progress bars on, ...) until an edge
installs another. :class:`RunConfig` is everything ``evalkit run`` does, with the flags, the suite's
defaults and the environment already merged: the runner trusts it.

Only light imports here: ``evalkit --help`` imports this module.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from evalkit.errors import UserError

if TYPE_CHECKING:
    from evalkit.engine.shards import ShardSpec
    from evalkit.suites import Suite

BatchSize = int | Literal["auto"]


#: The results store's file inside the evalkit home (``EVALKIT_HOME``).
STORE_FILE = "evalkit.db"


def default_home() -> Path:
    """The evalkit home when ``EVALKIT_HOME`` is unset or empty (the results store lives there)."""
    return Path.home() / ".evalkit"


def default_cache() -> Path:
    """evalkit's cache folder when ``EVALKIT_CACHE`` is unset or empty (converted checkpoints)."""
    return Path.home() / ".cache" / "evalkit"


@dataclass(frozen=True)
class Environment:
    """The environment variables evalkit honours, as typed values.

    ``TOKENIZERS_PARALLELISM`` is not here: evalkit only sets it (for the tokenizers library) at the edge.
    """

    #: ``EVALKIT_HOME``: holds the results store ``evalkit.db``; hidden from sandboxed programs.
    home: Path = field(default_factory=default_home)
    #: ``EVALKIT_CACHE``: converted checkpoints and remembered fingerprints.
    cache: Path = field(default_factory=default_cache)
    #: ``EVALKIT_DATA_ROOT``: local mirrors of hub data sets (``--data-root`` overrides it).
    data_root: Path | None = None
    #: ``EVALKIT_PROGRESS`` (``0`` turns progress bars off).
    progress: bool = True
    #: ``HF_HUB_OFFLINE``: look models up in the local Hugging Face cache only.
    hf_hub_offline: bool = False
    #: ``OPENAI_API_KEY``: sent to OpenAI-compatible endpoints.
    openai_api_key: str | None = None
    #: ``EVALKIT_STORE``: the results store when ``--store`` is not given (a file path or a
    #: ``postgresql://`` URL, as written); unset: ``<home>/evalkit.db``.
    store: str | None = None

    @property
    def store_path(self) -> str | Path:
        """The results store: ``EVALKIT_STORE`` (a URL stays text, a path becomes a ``Path``), else
        ``<home>/evalkit.db``."""
        if self.store:
            return self.store if "://" in self.store else Path(self.store).expanduser()
        return self.home / STORE_FILE

    def to_environ(self) -> dict[str, str]:
        """The variables that give another process (a Ray worker) this environment."""
        out = {"EVALKIT_HOME": str(self.home), "EVALKIT_CACHE": str(self.cache),
               "EVALKIT_PROGRESS": "1" if self.progress else "0", "HF_HUB_OFFLINE": "1" if self.hf_hub_offline else "0"}
        if self.data_root is not None:
            out["EVALKIT_DATA_ROOT"] = str(self.data_root)
        if self.store is not None:  # a shared store named only in the environment (a PostgreSQL URL)
            out["EVALKIT_STORE"] = self.store
        if self.openai_api_key is not None:
            out["OPENAI_API_KEY"] = self.openai_api_key
        return out

    @classmethod
    def from_environ(cls, environ: Mapping[str, str]) -> Environment:
        """Parse the variables of ``environ`` (the caller passes ``os.environ``); unset ones get defaults."""
        home = environ.get("EVALKIT_HOME", "").strip()
        cache = environ.get("EVALKIT_CACHE", "")
        data_root = environ.get("EVALKIT_DATA_ROOT", "")
        return cls(
            home=Path(home).expanduser() if home else default_home(),
            cache=Path(cache).expanduser() if cache else default_cache(),
            data_root=Path(data_root).expanduser() if data_root else None,
            progress=environ.get("EVALKIT_PROGRESS", "1") != "0",
            hf_hub_offline=environ.get("HF_HUB_OFFLINE", "0") not in ("0", "", "false"),
            openai_api_key=environ.get("OPENAI_API_KEY"),
            store=environ.get("EVALKIT_STORE", "").strip() or None,
        )


_installed: Environment | Callable[[], Environment] | None = None


def set_environment(env: Environment | Callable[[], Environment]) -> None:
    """Install ``env`` for this process (the command line does, once).

    A callable is asked at each use: a test harness that changes variables between tests installs
    ``lambda: Environment.from_environ(os.environ)``.
    """
    global _installed
    _installed = env


def current_environment() -> Environment:
    """The installed :class:`Environment`, else the library defaults (never ``os.environ``)."""
    if _installed is None:
        return Environment()
    return _installed if isinstance(_installed, Environment) else _installed()


@dataclass(frozen=True)
class RunConfig:
    """Everything one ``evalkit run`` does, already merged and checked (see :meth:`resolve`)."""

    model: str | None
    store_path: str | Path
    output: Path | None
    #: The tasks to run, in the order given (all of the suite's by default).
    tasks: tuple[str, ...]
    #: Documents per task: ``--limit``, else the task's ``limit``, else the suite's; None means all.
    limits: Mapping[str, int | None]
    #: The ``--limit`` flag, else the suite's default (recorded as ``limit`` in results.json).
    limit: int | None
    seed: int
    batch_size: BatchSize
    device: str = "auto"
    dtype: str = "float32"
    data_root: Path | None = None
    use_cache: bool = True
    progress: bool = True
    #: ``--shard I/N``: answer only this shard's requests into the cache, write no results.
    shard: ShardSpec | None = None
    #: The gather after ``--workers``: every answer must already be cached (nothing is computed).
    require_cached: bool = False

    def __post_init__(self) -> None:
        _check_batch_size(self.batch_size, "batch_size")
        for task, n in self.limits.items():
            if n is not None and n < 1:
                raise UserError(f"limit of task {task}: expected a positive integer, got {n}")

    @classmethod
    def resolve(cls, suite: Suite, env: Environment | None = None, *, model: str | None,
                store_path: str | Path | None = None, output: Path | None = None, limit: int | None = None,
                batch_size: BatchSize | None = None, seed: int | None = None, device: str = "auto",
                dtype: str = "float32", data_root: Path | None = None, tasks: tuple[str, ...] | None = None,
                use_cache: bool = True, shard: ShardSpec | None = None) -> RunConfig:
        """Merge flags (the keyword arguments; None: not given) over ``suite``'s defaults over ``env``."""
        env = env or current_environment()
        if limit is not None and limit < 1:
            raise UserError(f"--limit: expected a positive integer, got {limit}")
        if batch_size is not None:
            _check_batch_size(batch_size, "--batch-size")
        selected = _select_tasks(suite, tasks)
        defaults = suite.defaults
        by_name = {t.name: t for t in suite.tasks}
        return cls(
            model=model, store_path=store_path or env.store_path, output=output, tasks=selected,
            limits={name: limit or by_name[name].limit or defaults.limit for name in selected},
            limit=limit or defaults.limit, seed=seed if seed is not None else defaults.seed,
            batch_size=batch_size if batch_size is not None else defaults.batch_size, device=device, dtype=dtype,
            data_root=data_root.expanduser() if data_root else env.data_root, use_cache=use_cache,
            progress=env.progress, shard=shard)


def _check_batch_size(value: object, name: str) -> None:
    ok = value == "auto" or (isinstance(value, int) and not isinstance(value, bool) and value >= 1)
    if not ok:
        raise UserError(f"{name}: expected a positive integer or 'auto', got {value!r}")


def _select_tasks(suite: Suite, names: tuple[str, ...] | None) -> tuple[str, ...]:
    known = [t.name for t in suite.tasks]
    if not names:
        return tuple(known)
    unknown = [n for n in names if n not in known]
    if unknown:
        raise UserError(f"--tasks: unknown task {unknown[0]!r} in suite {suite.name} (known: {', '.join(known)})")
    return tuple(names)
