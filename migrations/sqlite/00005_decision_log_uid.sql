-- A decision log gets its public id when the check makes it, before the
-- writer stores it in the background, so that the log a check returns can
-- be read back later by that id. Logs stored before this migration keep
-- an empty uid and are named by their row id.

-- +goose Up
ALTER TABLE decision_logs ADD COLUMN uid VARCHAR(32) NOT NULL DEFAULT '';
CREATE UNIQUE INDEX decision_logs_uid_idx ON decision_logs (uid) WHERE uid <> '';

-- +goose Down
DROP INDEX decision_logs_uid_idx;
ALTER TABLE decision_logs DROP COLUMN uid;
