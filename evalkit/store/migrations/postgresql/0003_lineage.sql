-- 0003_lineage.sql for PostgreSQL: the same tables as ../0003_lineage.sql; see there for what each column means.
-- Text columns sort bytewise (COLLATE "C"), as SQLite's do, whatever the database's locale; floats are
-- DOUBLE PRECISION (PostgreSQL's REAL is 4 bytes; SQLite's is 8).

CREATE TABLE lineage (
    fingerprint         TEXT COLLATE "C" PRIMARY KEY,
    path                TEXT COLLATE "C",
    kind                TEXT COLLATE "C" NOT NULL CHECK (kind IN ('train', 'merge')),
    -- sft | dpo (train); for a merge, the method of the adapter merged (NULL when unknown).
    method              TEXT COLLATE "C",
    -- none | lora | qlora (NULL when unknown: an adapter made outside evalkit).
    adapter             TEXT COLLATE "C",
    -- What the step started from, as given (alias, folder, hub id), and its fingerprint; not a
    -- foreign key, for the same reason as models.parent_fingerprint.
    parent_model        TEXT COLLATE "C" NOT NULL,
    parent_fingerprint  TEXT COLLATE "C" NOT NULL,
    -- JSON: the full validated training config, or the merge options.
    config              TEXT COLLATE "C" NOT NULL DEFAULT '{}',
    dataset_fingerprint TEXT COLLATE "C",
    dataset_rows        INTEGER,
    steps               INTEGER,
    wall_s              DOUBLE PRECISION,
    final_loss          DOUBLE PRECISION,
    -- JSON [{"step": ..., "loss": ..., "learning_rate": ...}, ...]
    loss_curve          TEXT COLLATE "C" NOT NULL DEFAULT '[]',
    -- '16-bit reload' | 'dequantized 4-bit' (merge); NULL for a training step.
    merge_mode          TEXT COLLATE "C",
    -- JSON {"torch": "2.x", "transformers": ..., ...}
    versions            TEXT COLLATE "C" NOT NULL DEFAULT '{}',
    created_at          TEXT COLLATE "C" NOT NULL
);
CREATE INDEX lineage_by_parent ON lineage (parent_fingerprint);
