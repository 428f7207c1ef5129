-- A cold check starts from the asked projects' project grants and needs
-- their ids: with the id in the index, that read is an index-only scan
-- rather than a visit to one heap page per grant, which are scattered over
-- the table in the order the grants were made. SQLite's unique index on
-- (project_id, permission_id) carries the rowid, which is the id, already.

-- +goose Up
CREATE INDEX project_permissions_project_perm_id_idx ON project_permissions (project_id, permission_id, id);

-- +goose Down
DROP INDEX project_permissions_project_perm_id_idx;
