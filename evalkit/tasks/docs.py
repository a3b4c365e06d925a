"""The documents of a task file: which split is evaluated, which one the shots come from, and where
the data is read (the hub, local files named in ``dataset_kwargs.data_files``, or a ``--data-root``
mirror of the hub id), as lm-eval's ``ConfigurableTask`` decides it.

- evaluated: ``test_split`` if set, else ``validation_split`` (lm-eval's ``eval_docs``);
- shots: ``fewshot_config.split`` (default ``fewshot_split``), else ``fewshot_config.samples``,
  else ``training_split``, else ``validation_split``, else ``test_split`` (``fewshot_docs``);
- ``process_docs`` applies to every split it reads (``fewshot_config.process_docs`` to the shots).

Mirror layout (``--data-root DIR``): ``DIR/<owner>/<name>[/<dataset_name>]/<split>.<jsonl|json|csv|parquet>``,
or the same without ``<owner>``.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from evalkit.data import DatasetSpec, load_records
from evalkit.tasks.loader import LoadedTask
from evalkit.tasks.schema import BuiltinRef, FunctionRef

Doc = dict[str, Any]


def dataset_spec(task: LoadedTask, split: str | None) -> DatasetSpec:
    """The :class:`DatasetSpec` of one split of ``task``'s data (``data_files`` made absolute)."""
    cfg = task.config
    if cfg.dataset_path is None:
        raise task.error(("dataset_path",), "required (a hub id, or json/csv/parquet with dataset_kwargs.data_files)")
    kwargs = cfg.dataset_kwargs
    data_files: Any = None
    if kwargs is not None and kwargs.data_files is not None:
        source = task.origin.sources.get("dataset_kwargs") or task.origin.default
        assert source is not None
        base = Path(source.path).resolve().parent

        def fix(p: str) -> str:
            full = Path(p).expanduser()
            return str(full if full.is_absolute() else base / full)

        files = kwargs.data_files
        if isinstance(files, str):
            data_files = fix(files)
        elif isinstance(files, list):
            data_files = [fix(f) for f in files]
        else:
            data_files = {k: fix(v) if isinstance(v, str) else [fix(x) for x in v] for k, v in files.items()}
    return DatasetSpec(path=cfg.dataset_path, name=cfg.dataset_name, split=split, data_files=data_files,
                       revision=kwargs.revision if kwargs else None)


class TaskDocs:
    """Reads and memoises the splits of one task (each split once per task)."""

    def __init__(self, task: LoadedTask, data_root: Path | None):
        self.task = task
        self.data_root = data_root
        self._splits: dict[tuple[str, bool], list[Doc]] = {}
        self._custom: Any = None

    def _call(self, ref: FunctionRef | BuiltinRef | None) -> Callable[..., Any] | None:
        return None if ref is None else self.task.functions[ref]

    def split(self, split: str, *, fewshot: bool = False) -> list[Doc]:
        key = (split, fewshot)
        if key not in self._splits:
            cfg = self.task.config
            docs = self._read(split)
            process = cfg.process_docs
            if fewshot and cfg.fewshot_config is not None and cfg.fewshot_config.process_docs is not None:
                process = cfg.fewshot_config.process_docs
            fn = self._call(process)
            if fn is not None:
                docs = [dict(d) for d in fn(docs)]
            self._splits[key] = docs
        return self._splits[key]

    def _read(self, split: str) -> list[Doc]:
        cfg = self.task.config
        custom = self._call(cfg.custom_dataset)
        if custom is not None:
            if self._custom is None:
                kwargs = cfg.dataset_kwargs.model_dump(exclude_none=True) if cfg.dataset_kwargs else {}
                self._custom = custom(**(cfg.metadata or {}), **kwargs)
            if split not in self._custom:
                raise self.task.error(("custom_dataset",), f"the custom dataset has no split {split!r}")
            return [dict(d) for d in self._custom[split]]
        spec = dataset_spec(self.task, split)
        return load_records(spec, base_dir=self.task.path.parent, data_root=self.data_root)

    # -- lm-eval's choice of splits ----------------------------------------------------------------
    def eval_split(self) -> str:
        cfg = self.task.config
        split = cfg.test_split or cfg.validation_split
        if split is None:
            raise self.task.error(("test_split",), "a task needs test_split or validation_split (the documents "
                                                   "it evaluates)")
        return split

    def fewshot_split(self) -> str | None:
        """The split the shots come from: lm-eval's ``fewshot_config.split`` (inherited from ``fewshot_split``)."""
        cfg = self.task.config
        if cfg.fewshot_config is not None and cfg.fewshot_config.split is not None:
            return cfg.fewshot_config.split
        return cfg.fewshot_split

    def fewshot_pool(self) -> list[Doc]:
        cfg = self.task.config
        split = self.fewshot_split()
        if split is not None:
            return self.split(split, fewshot=True)
        samples = cfg.fewshot_config.samples if cfg.fewshot_config is not None else None
        if isinstance(samples, list):
            return [dict(s) for s in samples]
        if samples is not None:
            fn = self._call(samples)
            assert fn is not None
            return [dict(s) for s in fn()]
        for fallback in (cfg.training_split, cfg.validation_split, cfg.test_split):
            if fallback is not None:
                # lm-eval's Task.fewshot_docs: these are the task's docs, processed with its process_docs.
                return self.split(fallback)
        raise self.task.error(("fewshot_split",), "num_fewshot > 0 but the task names no split to draw shots from")

    def excludes_eval_doc(self) -> bool:
        """lm-eval passes the evaluated document to the sampler (to leave it out) exactly when the
        few-shot split equals the test split, "both unset" included."""
        return self.fewshot_split() == self.task.config.test_split
