-- A decision log becomes one row: its lines move into decision_logs.entries
-- as a JSON array of {"text": …, "tags": […]}, in order, and the tag every
-- log of the engine carries, auto (its last line is the automatic RESULT
-- line, docs/model.md, Decision logs), becomes the auto_tagged flag instead of a row of
-- decision_log_tags (migrations/postgres/00008 says why). The number
-- follows PostgreSQL's, which has a 00007 that SQLite does not need.
--
-- An entry kept its tags comma-separated, and a comma inside a tag was
-- stored as "_", so every comma of the quoted list separates two tags.

-- +goose Up
ALTER TABLE decision_logs ADD COLUMN entries TEXT NOT NULL DEFAULT '[]';
ALTER TABLE decision_logs ADD COLUMN auto_tagged BOOLEAN NOT NULL DEFAULT FALSE;
UPDATE decision_logs
   SET entries = (SELECT json_group_array(json_object('text', e.text, 'tags',
                         json(CASE WHEN e.tags = '' THEN '[]' ELSE '[' || replace(json_quote(e.tags), ',', '","') || ']' END)))
                    FROM (SELECT text, tags FROM decision_log_entries
                           WHERE decision_log_id = decision_logs.id ORDER BY position) e)
 WHERE id IN (SELECT decision_log_id FROM decision_log_entries);
UPDATE decision_logs SET auto_tagged = TRUE
 WHERE id IN (SELECT decision_log_id FROM decision_log_tags WHERE tag = 'auto');
DELETE FROM decision_log_tags WHERE tag = 'auto';
DROP TABLE decision_log_entries;

-- +goose Down
CREATE TABLE decision_log_entries (
    id              INTEGER PRIMARY KEY AUTOINCREMENT,
    decision_log_id BIGINT  NOT NULL REFERENCES decision_logs (id) ON DELETE CASCADE,
    position        INTEGER NOT NULL,
    text            TEXT    NOT NULL,
    tags            VARCHAR(255) NOT NULL DEFAULT '',
    UNIQUE (decision_log_id, position)
);
INSERT INTO decision_log_entries (decision_log_id, position, text, tags)
SELECT d.id, e.key, json_extract(e.value, '$.text'),
       COALESCE((SELECT group_concat(t.value, ',') FROM json_each(e.value, '$.tags') t), '')
  FROM decision_logs d, json_each(d.entries) e
 ORDER BY d.id, e.key;
INSERT INTO decision_log_tags (decision_log_id, tag) SELECT id, 'auto' FROM decision_logs WHERE auto_tagged;
ALTER TABLE decision_logs DROP COLUMN auto_tagged;
ALTER TABLE decision_logs DROP COLUMN entries;
