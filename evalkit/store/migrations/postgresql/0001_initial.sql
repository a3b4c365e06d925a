-- 0001_initial.sql for PostgreSQL: the same tables as ../0001_initial.sql; see there for what each column means.
-- Text columns sort bytewise (COLLATE "C"), as SQLite's do, whatever the database's locale; floats are
-- DOUBLE PRECISION (PostgreSQL's REAL is 4 bytes; SQLite's is 8).

CREATE TABLE models (
    fingerprint        TEXT COLLATE "C" PRIMARY KEY,
    name               TEXT COLLATE "C" NOT NULL,
    path               TEXT COLLATE "C",
    -- The model this one was derived from (fine-tune, quantisation, merge); not a foreign key
    -- because the parent is often known only by its fingerprint and never registered itself.
    parent_fingerprint TEXT COLLATE "C",
    metadata           TEXT COLLATE "C" NOT NULL DEFAULT '{}',
    created_at         TEXT COLLATE "C" NOT NULL
);
CREATE INDEX models_by_parent ON models (parent_fingerprint);

CREATE TABLE runs (
    -- Insertion order, which SQLite keeps as its implicit rowid (newest-first listings break ties by it).
    rowid             BIGINT GENERATED ALWAYS AS IDENTITY UNIQUE,
    run_id            TEXT COLLATE "C" PRIMARY KEY,
    suite             TEXT COLLATE "C" NOT NULL,
    suite_sha256      TEXT COLLATE "C" NOT NULL,
    -- Not a foreign key: a run may be recorded before (or without) its model being registered.
    model_fingerprint TEXT COLLATE "C" NOT NULL,
    model_name        TEXT COLLATE "C" NOT NULL,
    config            TEXT COLLATE "C" NOT NULL DEFAULT '{}',
    output_dir        TEXT COLLATE "C",
    status            TEXT COLLATE "C" NOT NULL CHECK (status IN ('running', 'finished', 'failed', 'imported')),
    started_at        TEXT COLLATE "C" NOT NULL,
    finished_at       TEXT COLLATE "C",
    timing            TEXT COLLATE "C"
);
CREATE INDEX runs_by_started_at ON runs (started_at);
CREATE INDEX runs_by_model ON runs (model_fingerprint);

CREATE TABLE results (
    run_id TEXT COLLATE "C" NOT NULL REFERENCES runs (run_id) ON DELETE CASCADE,
    task   TEXT COLLATE "C" NOT NULL,
    metric TEXT COLLATE "C" NOT NULL,
    filter TEXT COLLATE "C" NOT NULL,
    -- Nullable because SQLite stores a NaN DOUBLE PRECISION as NULL; the store reads NULL back as NaN.
    value  DOUBLE PRECISION,
    stderr DOUBLE PRECISION,
    n      INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (run_id, task, metric, filter)
);

CREATE TABLE samples (
    run_id TEXT COLLATE "C" NOT NULL REFERENCES runs (run_id) ON DELETE CASCADE,
    task   TEXT COLLATE "C" NOT NULL,
    -- No declared type on purpose: integer ids stay integers (and sort numerically) and string
    -- ids stay strings, instead of being coerced by a column affinity.
    -- SQLite keeps integer ids as integers (numeric order, before text ids); here both are text the
    -- backend encodes so that bytewise order is the same: 'i' + sign + 19 digits, or 's' + the id.
    doc_id TEXT COLLATE "C" NOT NULL,
    filter TEXT COLLATE "C" NOT NULL,
    record TEXT COLLATE "C" NOT NULL,
    PRIMARY KEY (run_id, task, doc_id, filter)
);

CREATE TABLE request_cache (
    model_fingerprint TEXT COLLATE "C" NOT NULL,
    request_hash      TEXT COLLATE "C" NOT NULL,
    request           TEXT COLLATE "C" NOT NULL,
    response          TEXT COLLATE "C" NOT NULL,
    created_at        TEXT COLLATE "C" NOT NULL,
    PRIMARY KEY (model_fingerprint, request_hash)
);
