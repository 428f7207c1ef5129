-- The revision counts changes to what checks read: users and their flags,
-- groups and memberships, the permission registry, projects, grants and
-- API tokens. The shared permission cache stamps what it loads with the
-- revision the load saw and serves an entry only while the instance knows
-- no newer revision (docs/consistency.md). SQLite has no statement-level
-- triggers, so a trigger per row bumps the counter in the writing
-- transaction; SQLite's single writer needs no ordering beyond that.

-- +goose Up
CREATE TABLE authz_revision (
    id       INTEGER PRIMARY KEY CHECK (id = 1),
    revision INTEGER NOT NULL
);
INSERT INTO authz_revision (id, revision) VALUES (1, 1);

-- +goose StatementBegin
CREATE TRIGGER users_insert_revision AFTER INSERT ON users
BEGIN UPDATE authz_revision SET revision = revision + 1 WHERE id = 1; END;
-- +goose StatementEnd
-- +goose StatementBegin
CREATE TRIGGER users_update_revision AFTER UPDATE ON users
BEGIN UPDATE authz_revision SET revision = revision + 1 WHERE id = 1; END;
-- +goose StatementEnd
-- +goose StatementBegin
CREATE TRIGGER users_delete_revision AFTER DELETE ON users
BEGIN UPDATE authz_revision SET revision = revision + 1 WHERE id = 1; END;
-- +goose StatementEnd
-- +goose StatementBegin
CREATE TRIGGER groups_insert_revision AFTER INSERT ON groups
BEGIN UPDATE authz_revision SET revision = revision + 1 WHERE id = 1; END;
-- +goose StatementEnd
-- +goose StatementBegin
CREATE TRIGGER groups_update_revision AFTER UPDATE ON groups
BEGIN UPDATE authz_revision SET revision = revision + 1 WHERE id = 1; END;
-- +goose StatementEnd
-- +goose StatementBegin
CREATE TRIGGER groups_delete_revision AFTER DELETE ON groups
BEGIN UPDATE authz_revision SET revision = revision + 1 WHERE id = 1; END;
-- +goose StatementEnd
-- +goose StatementBegin
CREATE TRIGGER user_groups_insert_revision AFTER INSERT ON user_groups
BEGIN UPDATE authz_revision SET revision = revision + 1 WHERE id = 1; END;
-- +goose StatementEnd
-- +goose StatementBegin
CREATE TRIGGER user_groups_update_revision AFTER UPDATE ON user_groups
BEGIN UPDATE authz_revision SET revision = revision + 1 WHERE id = 1; END;
-- +goose StatementEnd
-- +goose StatementBegin
CREATE TRIGGER user_groups_delete_revision AFTER DELETE ON user_groups
BEGIN UPDATE authz_revision SET revision = revision + 1 WHERE id = 1; END;
-- +goose StatementEnd
-- +goose StatementBegin
CREATE TRIGGER permissions_insert_revision AFTER INSERT ON permissions
BEGIN UPDATE authz_revision SET revision = revision + 1 WHERE id = 1; END;
-- +goose StatementEnd
-- +goose StatementBegin
CREATE TRIGGER permissions_update_revision AFTER UPDATE ON permissions
BEGIN UPDATE authz_revision SET revision = revision + 1 WHERE id = 1; END;
-- +goose StatementEnd
-- +goose StatementBegin
CREATE TRIGGER permissions_delete_revision AFTER DELETE ON permissions
BEGIN UPDATE authz_revision SET revision = revision + 1 WHERE id = 1; END;
-- +goose StatementEnd
-- +goose StatementBegin
CREATE TRIGGER user_permissions_insert_revision AFTER INSERT ON user_permissions
BEGIN UPDATE authz_revision SET revision = revision + 1 WHERE id = 1; END;
-- +goose StatementEnd
-- +goose StatementBegin
CREATE TRIGGER user_permissions_update_revision AFTER UPDATE ON user_permissions
BEGIN UPDATE authz_revision SET revision = revision + 1 WHERE id = 1; END;
-- +goose StatementEnd
-- +goose StatementBegin
CREATE TRIGGER user_permissions_delete_revision AFTER DELETE ON user_permissions
BEGIN UPDATE authz_revision SET revision = revision + 1 WHERE id = 1; END;
-- +goose StatementEnd
-- +goose StatementBegin
CREATE TRIGGER group_permissions_insert_revision AFTER INSERT ON group_permissions
BEGIN UPDATE authz_revision SET revision = revision + 1 WHERE id = 1; END;
-- +goose StatementEnd
-- +goose StatementBegin
CREATE TRIGGER group_permissions_update_revision AFTER UPDATE ON group_permissions
BEGIN UPDATE authz_revision SET revision = revision + 1 WHERE id = 1; END;
-- +goose StatementEnd
-- +goose StatementBegin
CREATE TRIGGER group_permissions_delete_revision AFTER DELETE ON group_permissions
BEGIN UPDATE authz_revision SET revision = revision + 1 WHERE id = 1; END;
-- +goose StatementEnd
-- +goose StatementBegin
CREATE TRIGGER projects_insert_revision AFTER INSERT ON projects
BEGIN UPDATE authz_revision SET revision = revision + 1 WHERE id = 1; END;
-- +goose StatementEnd
-- +goose StatementBegin
CREATE TRIGGER projects_update_revision AFTER UPDATE ON projects
BEGIN UPDATE authz_revision SET revision = revision + 1 WHERE id = 1; END;
-- +goose StatementEnd
-- +goose StatementBegin
CREATE TRIGGER projects_delete_revision AFTER DELETE ON projects
BEGIN UPDATE authz_revision SET revision = revision + 1 WHERE id = 1; END;
-- +goose StatementEnd
-- +goose StatementBegin
CREATE TRIGGER project_permissions_insert_revision AFTER INSERT ON project_permissions
BEGIN UPDATE authz_revision SET revision = revision + 1 WHERE id = 1; END;
-- +goose StatementEnd
-- +goose StatementBegin
CREATE TRIGGER project_permissions_update_revision AFTER UPDATE ON project_permissions
BEGIN UPDATE authz_revision SET revision = revision + 1 WHERE id = 1; END;
-- +goose StatementEnd
-- +goose StatementBegin
CREATE TRIGGER project_permissions_delete_revision AFTER DELETE ON project_permissions
BEGIN UPDATE authz_revision SET revision = revision + 1 WHERE id = 1; END;
-- +goose StatementEnd
-- +goose StatementBegin
CREATE TRIGGER project_permission_users_insert_revision AFTER INSERT ON project_permission_users
BEGIN UPDATE authz_revision SET revision = revision + 1 WHERE id = 1; END;
-- +goose StatementEnd
-- +goose StatementBegin
CREATE TRIGGER project_permission_users_update_revision AFTER UPDATE ON project_permission_users
BEGIN UPDATE authz_revision SET revision = revision + 1 WHERE id = 1; END;
-- +goose StatementEnd
-- +goose StatementBegin
CREATE TRIGGER project_permission_users_delete_revision AFTER DELETE ON project_permission_users
BEGIN UPDATE authz_revision SET revision = revision + 1 WHERE id = 1; END;
-- +goose StatementEnd
-- +goose StatementBegin
CREATE TRIGGER project_permission_groups_insert_revision AFTER INSERT ON project_permission_groups
BEGIN UPDATE authz_revision SET revision = revision + 1 WHERE id = 1; END;
-- +goose StatementEnd
-- +goose StatementBegin
CREATE TRIGGER project_permission_groups_update_revision AFTER UPDATE ON project_permission_groups
BEGIN UPDATE authz_revision SET revision = revision + 1 WHERE id = 1; END;
-- +goose StatementEnd
-- +goose StatementBegin
CREATE TRIGGER project_permission_groups_delete_revision AFTER DELETE ON project_permission_groups
BEGIN UPDATE authz_revision SET revision = revision + 1 WHERE id = 1; END;
-- +goose StatementEnd
-- +goose StatementBegin
CREATE TRIGGER api_tokens_insert_revision AFTER INSERT ON api_tokens
BEGIN UPDATE authz_revision SET revision = revision + 1 WHERE id = 1; END;
-- +goose StatementEnd
-- +goose StatementBegin
CREATE TRIGGER api_tokens_update_revision AFTER UPDATE ON api_tokens
BEGIN UPDATE authz_revision SET revision = revision + 1 WHERE id = 1; END;
-- +goose StatementEnd
-- +goose StatementBegin
CREATE TRIGGER api_tokens_delete_revision AFTER DELETE ON api_tokens
BEGIN UPDATE authz_revision SET revision = revision + 1 WHERE id = 1; END;
-- +goose StatementEnd

-- +goose Down
DROP TRIGGER api_tokens_delete_revision;
DROP TRIGGER api_tokens_update_revision;
DROP TRIGGER api_tokens_insert_revision;
DROP TRIGGER project_permission_groups_delete_revision;
DROP TRIGGER project_permission_groups_update_revision;
DROP TRIGGER project_permission_groups_insert_revision;
DROP TRIGGER project_permission_users_delete_revision;
DROP TRIGGER project_permission_users_update_revision;
DROP TRIGGER project_permission_users_insert_revision;
DROP TRIGGER project_permissions_delete_revision;
DROP TRIGGER project_permissions_update_revision;
DROP TRIGGER project_permissions_insert_revision;
DROP TRIGGER projects_delete_revision;
DROP TRIGGER projects_update_revision;
DROP TRIGGER projects_insert_revision;
DROP TRIGGER group_permissions_delete_revision;
DROP TRIGGER group_permissions_update_revision;
DROP TRIGGER group_permissions_insert_revision;
DROP TRIGGER user_permissions_delete_revision;
DROP TRIGGER user_permissions_update_revision;
DROP TRIGGER user_permissions_insert_revision;
DROP TRIGGER permissions_delete_revision;
DROP TRIGGER permissions_update_revision;
DROP TRIGGER permissions_insert_revision;
DROP TRIGGER user_groups_delete_revision;
DROP TRIGGER user_groups_update_revision;
DROP TRIGGER user_groups_insert_revision;
DROP TRIGGER groups_delete_revision;
DROP TRIGGER groups_update_revision;
DROP TRIGGER groups_insert_revision;
DROP TRIGGER users_delete_revision;
DROP TRIGGER users_update_revision;
DROP TRIGGER users_insert_revision;
DROP TABLE authz_revision;
