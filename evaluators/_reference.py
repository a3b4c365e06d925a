"""The reference policy of a trained model: what its last training step started from.

DPO's implicit reward compares the policy with the model its training started from (TRL's reference:
the starting model, or with a LoRA the base with the adapter disabled, the same weights). The chain is
read as ``evalkit models lineage`` reads it (:mod:`evalkit.harness.lineage_table`): the store's lineage
record of the model, else the ``evalkit_lineage.json`` in its folder. A merge record leads to the
adapter it merged; the first training record's parent is the reference. An adapter that nothing
recorded has its base as reference. A model with no training step above it (a base model) has none.

The reference is resolved again from its path and must still be what the training started from (the
recorded fingerprint): a folder trained over since would silently give another model's rewards.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from evalkit.errors import UserError

if TYPE_CHECKING:
    from evalkit.harness.lineage import LineageRecord
    from evalkit.models.resolve import ModelRef
    from evalkit.store import Store

MAX_DEPTH = 64  # a parent cycle in a corrupted store must not loop forever


def lineage_reference(store: Store, model: ModelRef) -> ModelRef | None:
    """The reference of ``model`` (module doc), resolved; ``None`` when no training step made it."""
    from evalkit.models.resolve import resolve_model

    fingerprint, path = model.fingerprint, model.path
    for _ in range(MAX_DEPTH):
        record = _record(store, fingerprint, path)
        if record is None:
            folder = Path(path) if path else None
            if folder is not None and (folder / "adapter_config.json").is_file():
                return resolve_model(str(folder)).base
            return None
        if record.kind == "train":
            return _resolved(store, record, model)
        fingerprint = record.parent_fingerprint
        parent = Path(record.parent_model)
        path = parent if parent.exists() else _stored_path(store, fingerprint)
    raise UserError(f"the lineage of {model.spec} loops or is deeper than {MAX_DEPTH} steps (store {store.location})")


def _record(store: Store, fingerprint: str, path: Path | None) -> LineageRecord | None:
    from evalkit.harness.lineage import read_lineage, record_from_store

    stored = store.get_lineage(fingerprint)
    if stored is not None:
        return record_from_store(stored)
    return read_lineage(path) if path is not None and path.is_dir() else None


def _stored_path(store: Store, fingerprint: str) -> Path | None:
    model = store.get_model(fingerprint)
    return Path(model["path"]) if model and model.get("path") else None


def _resolved(store: Store, record: LineageRecord, model: ModelRef) -> ModelRef:
    from evalkit.models.resolve import resolve_model

    where = _stored_path(store, record.parent_fingerprint)
    spec = str(where) if where is not None and where.exists() else record.parent_model
    try:
        ref = resolve_model(spec)
    except UserError as exc:
        raise UserError(f"the reference of {model.spec} (what its {record.method} training started from, "
                        f"{record.parent_model}) cannot be found: {exc}; name one with the reference option") from None
    if ref.fingerprint != record.parent_fingerprint:
        raise UserError(f"the reference of {model.spec}: {spec} is no longer the model its {record.method} training "
                        f"started from (fingerprint {ref.fingerprint[:12]}, recorded "
                        f"{record.parent_fingerprint[:12]}); name the reference with the reference option")
    return ref
