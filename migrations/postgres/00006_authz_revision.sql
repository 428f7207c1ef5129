-- The revision counts changes to what checks read: users and their flags,
-- groups and memberships, the permission registry, projects, grants and
-- API tokens. The shared permission cache stamps what it loads with the
-- revision the load saw and serves an entry only while the instance knows
-- no newer revision (docs/consistency.md).
--
-- The counter is bumped by a BEFORE trigger of each statement on those
-- tables, in the writing transaction: it becomes visible exactly when the
-- change does, and a transaction takes the counter's row lock before it
-- locks any row of those tables, so writers queue in one order and cannot
-- deadlock on it. pg_notify tells every listening instance the new value
-- when the transaction commits (and nothing when it rolls back).

-- +goose Up
CREATE TABLE authz_revision (
    id       SMALLINT PRIMARY KEY CHECK (id = 1),
    revision BIGINT   NOT NULL
);
INSERT INTO authz_revision (id, revision) VALUES (1, 1);

-- +goose StatementBegin
CREATE FUNCTION bump_authz_revision() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    rev BIGINT;
BEGIN
    UPDATE authz_revision SET revision = revision + 1 WHERE id = 1 RETURNING revision INTO rev;
    PERFORM pg_notify('grantql_revision', rev::text);
    RETURN NULL;
END
$$;
-- +goose StatementEnd

CREATE TRIGGER users_revision BEFORE INSERT OR UPDATE OR DELETE OR TRUNCATE ON users
    FOR EACH STATEMENT EXECUTE FUNCTION bump_authz_revision();
CREATE TRIGGER groups_revision BEFORE INSERT OR UPDATE OR DELETE OR TRUNCATE ON groups
    FOR EACH STATEMENT EXECUTE FUNCTION bump_authz_revision();
CREATE TRIGGER user_groups_revision BEFORE INSERT OR UPDATE OR DELETE OR TRUNCATE ON user_groups
    FOR EACH STATEMENT EXECUTE FUNCTION bump_authz_revision();
CREATE TRIGGER permissions_revision BEFORE INSERT OR UPDATE OR DELETE OR TRUNCATE ON permissions
    FOR EACH STATEMENT EXECUTE FUNCTION bump_authz_revision();
CREATE TRIGGER user_permissions_revision BEFORE INSERT OR UPDATE OR DELETE OR TRUNCATE ON user_permissions
    FOR EACH STATEMENT EXECUTE FUNCTION bump_authz_revision();
CREATE TRIGGER group_permissions_revision BEFORE INSERT OR UPDATE OR DELETE OR TRUNCATE ON group_permissions
    FOR EACH STATEMENT EXECUTE FUNCTION bump_authz_revision();
CREATE TRIGGER projects_revision BEFORE INSERT OR UPDATE OR DELETE OR TRUNCATE ON projects
    FOR EACH STATEMENT EXECUTE FUNCTION bump_authz_revision();
CREATE TRIGGER project_permissions_revision BEFORE INSERT OR UPDATE OR DELETE OR TRUNCATE ON project_permissions
    FOR EACH STATEMENT EXECUTE FUNCTION bump_authz_revision();
CREATE TRIGGER project_permission_users_revision BEFORE INSERT OR UPDATE OR DELETE OR TRUNCATE ON project_permission_users
    FOR EACH STATEMENT EXECUTE FUNCTION bump_authz_revision();
CREATE TRIGGER project_permission_groups_revision BEFORE INSERT OR UPDATE OR DELETE OR TRUNCATE ON project_permission_groups
    FOR EACH STATEMENT EXECUTE FUNCTION bump_authz_revision();
CREATE TRIGGER api_tokens_revision BEFORE INSERT OR UPDATE OR DELETE OR TRUNCATE ON api_tokens
    FOR EACH STATEMENT EXECUTE FUNCTION bump_authz_revision();

-- +goose Down
DROP TRIGGER api_tokens_revision ON api_tokens;
DROP TRIGGER project_permission_groups_revision ON project_permission_groups;
DROP TRIGGER project_permission_users_revision ON project_permission_users;
DROP TRIGGER project_permissions_revision ON project_permissions;
DROP TRIGGER projects_revision ON projects;
DROP TRIGGER group_permissions_revision ON group_permissions;
DROP TRIGGER user_permissions_revision ON user_permissions;
DROP TRIGGER permissions_revision ON permissions;
DROP TRIGGER user_groups_revision ON user_groups;
DROP TRIGGER groups_revision ON groups;
DROP TRIGGER users_revision ON users;
DROP FUNCTION bump_authz_revision();
DROP TABLE authz_revision;
