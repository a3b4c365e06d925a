-- 0006_answers.sql for PostgreSQL: the same tables as ../0006_answers.sql; see there for what each column means.
-- Text columns sort bytewise (COLLATE "C"), as SQLite's do, whatever the database's locale; floats are
-- DOUBLE PRECISION (PostgreSQL's REAL is 4 bytes; SQLite's is 8).

CREATE TABLE answers (
    model          TEXT COLLATE "C" NOT NULL,
    question_id    TEXT COLLATE "C" NOT NULL,
    category       TEXT COLLATE "C",
    prompt         TEXT COLLATE "C" NOT NULL,
    answer         TEXT COLLATE "C" NOT NULL,
    second_turn    TEXT COLLATE "C",
    second_answer  TEXT COLLATE "C",
    source         TEXT COLLATE "C" NOT NULL CHECK (source IN ('generated', 'file')),
    created_at     TEXT COLLATE "C" NOT NULL,
    PRIMARY KEY (model, question_id)
);
CREATE INDEX answers_by_question ON answers (question_id);

-- Key/value settings of this store (e.g. 'annotator_salt': the secret that annotator ids are hashed
-- with, made once per store so ids from two stores cannot be joined).
CREATE TABLE store_settings (
    key   TEXT COLLATE "C" PRIMARY KEY,
    value TEXT COLLATE "C" NOT NULL
);

CREATE INDEX votes_by_annotator ON votes (annotator, created_at);
