-- 0004: LLM-as-a-judge judgments (evalkit judge), for the leaderboard and for ratings from verdicts.
--
-- Pairwise rows: one per question, both orders of the swap (verdict_ab with model A's answer shown
-- first, verdict_ba with model B's answer shown first, each in its own positions: 'A', 'B', 'C' for a
-- tie, 'unscored'), the judge's raw text of each, and model A's outcome after the swap rule.
-- Single-answer rows (mode 'single' / 'single-reference'): model_b is '', verdict_ba and raw_ba are
-- '', the rating is in `rating` (NULL when unscored) and outcome is 'rated' or 'unscored'.
-- A rerun of the same judgment (same question, models, judge, prompt version, mode) replaces the
-- row instead of adding one.

CREATE TABLE judgments (
    id              INTEGER PRIMARY KEY AUTOINCREMENT,
    created_at      TEXT NOT NULL,
    question_id     TEXT NOT NULL,
    category        TEXT,
    model_a         TEXT NOT NULL,
    model_b         TEXT NOT NULL DEFAULT '',
    -- '<endpoint>#<model>'
    judge           TEXT NOT NULL,
    prompt_version  TEXT NOT NULL,
    -- pairwise | reference | single | single-reference
    mode            TEXT NOT NULL,
    verdict_ab      TEXT NOT NULL,
    verdict_ba      TEXT NOT NULL DEFAULT '',
    raw_ab          TEXT NOT NULL,
    raw_ba          TEXT NOT NULL DEFAULT '',
    outcome         TEXT NOT NULL CHECK (outcome IN ('win', 'loss', 'tie', 'unscored', 'rated')),
    rating          REAL,
    -- JSON: the verdict-only retries' text and anything else worth keeping.
    extra           TEXT NOT NULL DEFAULT '{}',
    UNIQUE (question_id, model_a, model_b, judge, prompt_version, mode)
);
CREATE INDEX judgments_by_models ON judgments (model_a, model_b);
