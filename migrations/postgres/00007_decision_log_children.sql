-- Entries and tags are written only by the decision-log writer, in the
-- transaction that writes their log, and deleted only with it, by the
-- purge: their foreign keys to decision_logs checked what the writer
-- guarantees, at the cost of a lookup and a lock of the log's row for each
-- entry and each tag. Worse, a connection keeps the plan of that lookup
-- that it made when decision_logs was small, a sequential scan, so each
-- batch of the writer took longer than the last until the table was next
-- analyzed. The purge now deletes entries and tags by their logs' ids.
-- (SQLite keeps its foreign keys: it has no such plan to keep, and
-- dropping one there means rebuilding the table.)

-- +goose Up
ALTER TABLE decision_log_entries DROP CONSTRAINT decision_log_entries_decision_log_id_fkey;
ALTER TABLE decision_log_tags DROP CONSTRAINT decision_log_tags_decision_log_id_fkey;

-- +goose Down
ALTER TABLE decision_log_entries ADD CONSTRAINT decision_log_entries_decision_log_id_fkey
    FOREIGN KEY (decision_log_id) REFERENCES decision_logs (id) ON DELETE CASCADE;
ALTER TABLE decision_log_tags ADD CONSTRAINT decision_log_tags_decision_log_id_fkey
    FOREIGN KEY (decision_log_id) REFERENCES decision_logs (id) ON DELETE CASCADE;
