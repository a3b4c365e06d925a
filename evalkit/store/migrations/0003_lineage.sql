-- 0003: where trained and merged checkpoints came from.
--
-- One row per checkpoint folder that `evalkit train` or `evalkit merge` wrote, keyed by the
-- checkpoint's fingerprint (what `evalkit run` records its runs under). The same record is in the
-- folder's evalkit_lineage.json; the store keeps it so the chain base -> SFT -> DPO can be walked
-- and joined to evaluation runs after the folders are moved or deleted. models.parent_fingerprint
-- keeps the bare edge; this table holds how the step was made.

CREATE TABLE lineage (
    fingerprint         TEXT PRIMARY KEY,
    path                TEXT,
    kind                TEXT NOT NULL CHECK (kind IN ('train', 'merge')),
    -- sft | dpo (train); for a merge, the method of the adapter merged (NULL when unknown).
    method              TEXT,
    -- none | lora | qlora (NULL when unknown: an adapter made outside evalkit).
    adapter             TEXT,
    -- What the step started from, as given (alias, folder, hub id), and its fingerprint; not a
    -- foreign key, for the same reason as models.parent_fingerprint.
    parent_model        TEXT NOT NULL,
    parent_fingerprint  TEXT NOT NULL,
    -- JSON: the full validated training config, or the merge options.
    config              TEXT NOT NULL DEFAULT '{}',
    dataset_fingerprint TEXT,
    dataset_rows        INTEGER,
    steps               INTEGER,
    wall_s              REAL,
    final_loss          REAL,
    -- JSON [{"step": ..., "loss": ..., "learning_rate": ...}, ...]
    loss_curve          TEXT NOT NULL DEFAULT '[]',
    -- '16-bit reload' | 'dequantized 4-bit' (merge); NULL for a training step.
    merge_mode          TEXT,
    -- JSON {"torch": "2.x", "transformers": ..., ...}
    versions            TEXT NOT NULL DEFAULT '{}',
    created_at          TEXT NOT NULL
);
CREATE INDEX lineage_by_parent ON lineage (parent_fingerprint);
