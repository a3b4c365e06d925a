-- 0007_imported_votes.sql for PostgreSQL: the same tables as ../0007_imported_votes.sql; see there for what the column means.
-- PostgreSQL's UNIQUE lets NULLs repeat too (arena battles leave source_key NULL).
-- Text columns sort bytewise (COLLATE "C"), as SQLite's do, whatever the database's locale; floats are
-- DOUBLE PRECISION (PostgreSQL's REAL is 4 bytes; SQLite's is 8).

ALTER TABLE battles ADD COLUMN source_key TEXT COLLATE "C";
CREATE UNIQUE INDEX battles_by_source_key ON battles (source_key);
