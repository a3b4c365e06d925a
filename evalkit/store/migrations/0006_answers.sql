-- 0006: the contestants' answers of `evalkit judge` (what the arena shows people), and store-wide
-- settings such as the arena's annotator salt.
--
-- One row per (model, question): the model's name as the judgments table spells it, the question's
-- first user turn as shown, and the answer (second_answer for a two-turn question). A rerun of the
-- same model on the same question replaces the row. `source` says whether evalkit generated the
-- answer or read it from an answers file.

CREATE TABLE answers (
    model          TEXT NOT NULL,
    question_id    TEXT NOT NULL,
    category       TEXT,
    prompt         TEXT NOT NULL,
    answer         TEXT NOT NULL,
    second_turn    TEXT,
    second_answer  TEXT,
    source         TEXT NOT NULL CHECK (source IN ('generated', 'file')),
    created_at     TEXT NOT NULL,
    PRIMARY KEY (model, question_id)
);
CREATE INDEX answers_by_question ON answers (question_id);

-- Key/value settings of this store (e.g. 'annotator_salt': the secret that annotator ids are hashed
-- with, made once per store so ids from two stores cannot be joined).
CREATE TABLE store_settings (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
);

CREATE INDEX votes_by_annotator ON votes (annotator, created_at);
