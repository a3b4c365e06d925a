-- 0002: cached scores get their own table.
--
-- Until now the runner cached an evaluator's scores in request_cache, under the pseudo model
-- fingerprint 'scores:evalkit-<version>' with the task and evaluator as the "request". Those rows
-- move here unchanged (key, payload, time); request_cache keeps model answers only.

CREATE TABLE score_cache (
    -- sha256 of the evaluator (name, version, settings), the seed, the documents and the responses.
    score_key       TEXT NOT NULL,
    -- The evalkit release that scored; scores of another release are kept but not reused.
    evalkit_version TEXT NOT NULL,
    task            TEXT NOT NULL,
    evaluator       TEXT NOT NULL,
    -- JSON {"scores": [[ItemScore, ...] per document], "aggregates": {filter: {metric: [value, stderr, n]}}}
    scores          TEXT NOT NULL,
    created_at      TEXT NOT NULL,
    PRIMARY KEY (score_key, evalkit_version)
);

INSERT INTO score_cache (score_key, evalkit_version, task, evaluator, scores, created_at)
SELECT request_hash,
       substr(model_fingerprint, length('scores:evalkit-') + 1),
       COALESCE(json_extract(request, '$.task'), ''),
       COALESCE(json_extract(request, '$.evaluator'), ''),
       response,
       created_at
FROM request_cache
WHERE substr(model_fingerprint, 1, length('scores:evalkit-')) = 'scores:evalkit-';

DELETE FROM request_cache WHERE substr(model_fingerprint, 1, length('scores:evalkit-')) = 'scores:evalkit-';
