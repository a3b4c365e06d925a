-- 0002_score_cache.sql for PostgreSQL: the same tables as ../0002_score_cache.sql; see there for what each column means.
-- Text columns sort bytewise (COLLATE "C"), as SQLite's do, whatever the database's locale; floats are
-- DOUBLE PRECISION (PostgreSQL's REAL is 4 bytes; SQLite's is 8).

CREATE TABLE score_cache (
    -- sha256 of the evaluator (name, version, settings), the seed, the documents and the responses.
    score_key       TEXT COLLATE "C" NOT NULL,
    -- The evalkit release that scored; scores of another release are kept but not reused.
    evalkit_version TEXT COLLATE "C" NOT NULL,
    task            TEXT COLLATE "C" NOT NULL,
    evaluator       TEXT COLLATE "C" NOT NULL,
    -- JSON {"scores": [[ItemScore, ...] per document], "aggregates": {filter: {metric: [value, stderr, n]}}}
    scores          TEXT COLLATE "C" NOT NULL,
    created_at      TEXT COLLATE "C" NOT NULL,
    PRIMARY KEY (score_key, evalkit_version)
);

-- The move of cached scores out of request_cache (../0002) has nothing to move in a PostgreSQL store:
-- the rows it moves predate PostgreSQL stores.
