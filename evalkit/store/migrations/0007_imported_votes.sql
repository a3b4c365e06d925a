-- 0007: people's votes imported from a file (`evalkit judge --votes FILE`), beside the arena's own.
--
-- An imported vote is stored as the arena stores one: a battle and its vote (the annotator as a salted
-- hash). `source_key` says which imported vote the battle is: a hash of (source, question_id, model_a,
-- model_b, winner, annotator, k), k counting identical tuples within one import (Store.import_votes).
-- UNIQUE makes importing the same votes again add nothing. Arena battles leave it NULL (SQLite's UNIQUE
-- lets NULLs repeat). An imported battle's shown_left is the column's default, not a screen position
-- anyone saw: measure people's position bias on battles WHERE source_key IS NULL.

ALTER TABLE battles ADD COLUMN source_key TEXT;
CREATE UNIQUE INDEX battles_by_source_key ON battles (source_key);
