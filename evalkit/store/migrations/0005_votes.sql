-- Human preference votes for the arena (issue 11), and what `evalkit elo --store` rates.
--
-- A battle is one pair of answers shown to one annotator; a vote is that annotator's choice. They
-- are separate rows because a battle is recorded when it is shown (so skipped battles can be
-- counted), and UNIQUE(battle_id) makes a second vote on the same battle fail instead of counting
-- twice. Annotators are stored only as a salted hash (evalkit.ratings.votes.annotator_id).

CREATE TABLE battles (
    id           INTEGER PRIMARY KEY,
    created_at   TEXT NOT NULL,
    -- The question or prompt id the two answers respond to (a judge question id, an arena prompt).
    question_id  TEXT NOT NULL,
    -- The two contestants; a vote's choice refers to these names, not to screen positions.
    model_a      TEXT NOT NULL,
    model_b      TEXT NOT NULL,
    -- Which contestant was shown on the left, to measure position bias of human voters.
    shown_left   TEXT NOT NULL DEFAULT 'model_a' CHECK (shown_left IN ('model_a', 'model_b')),
    -- Salted hash of the annotator the battle was shown to (NULL when not known).
    annotator    TEXT,
    CHECK (model_a <> model_b)
);
CREATE INDEX battles_by_models ON battles (model_a, model_b);

CREATE TABLE votes (
    id           INTEGER PRIMARY KEY,
    battle_id    INTEGER NOT NULL UNIQUE REFERENCES battles (id),
    annotator    TEXT NOT NULL,
    choice       TEXT NOT NULL CHECK (choice IN ('model_a', 'model_b', 'tie', 'tie (bothbad)')),
    created_at   TEXT NOT NULL
);
