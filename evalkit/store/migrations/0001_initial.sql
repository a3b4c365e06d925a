-- 0001: the first schema of the results store.
--
-- JSON columns hold UTF-8 JSON text; timestamps are ISO-8601 UTC text, which sorts chronologically.
-- Migrations run inside one transaction together with the bump of PRAGMA user_version, so a
-- migration either lands completely or not at all. Never edit a released migration: add 0002_*.sql.

CREATE TABLE models (
    fingerprint        TEXT PRIMARY KEY,
    name               TEXT NOT NULL,
    path               TEXT,
    -- The model this one was derived from (fine-tune, quantisation, merge); not a foreign key
    -- because the parent is often known only by its fingerprint and never registered itself.
    parent_fingerprint TEXT,
    metadata           TEXT NOT NULL DEFAULT '{}',
    created_at         TEXT NOT NULL
);
CREATE INDEX models_by_parent ON models (parent_fingerprint);

CREATE TABLE runs (
    run_id            TEXT PRIMARY KEY,
    suite             TEXT NOT NULL,
    suite_sha256      TEXT NOT NULL,
    -- Not a foreign key: a run may be recorded before (or without) its model being registered.
    model_fingerprint TEXT NOT NULL,
    model_name        TEXT NOT NULL,
    config            TEXT NOT NULL DEFAULT '{}',
    output_dir        TEXT,
    status            TEXT NOT NULL CHECK (status IN ('running', 'finished', 'failed', 'imported')),
    started_at        TEXT NOT NULL,
    finished_at       TEXT,
    timing            TEXT
);
CREATE INDEX runs_by_started_at ON runs (started_at);
CREATE INDEX runs_by_model ON runs (model_fingerprint);

CREATE TABLE results (
    run_id TEXT NOT NULL REFERENCES runs (run_id) ON DELETE CASCADE,
    task   TEXT NOT NULL,
    metric TEXT NOT NULL,
    filter TEXT NOT NULL,
    -- Nullable because SQLite stores a NaN REAL as NULL; the store reads NULL back as NaN.
    value  REAL,
    stderr REAL,
    n      INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (run_id, task, metric, filter)
);

CREATE TABLE samples (
    run_id TEXT NOT NULL REFERENCES runs (run_id) ON DELETE CASCADE,
    task   TEXT NOT NULL,
    -- No declared type on purpose: integer ids stay integers (and sort numerically) and string
    -- ids stay strings, instead of being coerced by a column affinity.
    doc_id NOT NULL,
    filter TEXT NOT NULL,
    record TEXT NOT NULL,
    PRIMARY KEY (run_id, task, doc_id, filter)
);

CREATE TABLE request_cache (
    model_fingerprint TEXT NOT NULL,
    request_hash      TEXT NOT NULL,
    request           TEXT NOT NULL,
    response          TEXT NOT NULL,
    created_at        TEXT NOT NULL,
    PRIMARY KEY (model_fingerprint, request_hash)
);
