-- The schema of docs/model.md for SQLite (foreign keys need PRAGMA foreign_keys=ON, which the DSN sets). Every foreign key says what
-- happens on delete: grants, memberships and pages go with their owner, so
-- that a re-used id can never inherit an old grant; decision logs outlive
-- the users and projects they mention (SET NULL) because they are an audit
-- trail.

-- +goose Up
CREATE TABLE users (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    username     VARCHAR(150) NOT NULL UNIQUE,
    is_active    BOOLEAN      NOT NULL DEFAULT TRUE,
    is_superuser BOOLEAN      NOT NULL DEFAULT FALSE,
    created_at   DATETIME  NOT NULL DEFAULT CURRENT_TIMESTAMP
);

CREATE TABLE groups (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    name       VARCHAR(150) NOT NULL UNIQUE,
    created_at DATETIME  NOT NULL DEFAULT CURRENT_TIMESTAMP
);

-- The primary key (user_id, group_id) serves "the groups of a user", which
-- every check reads; the second index serves "the members of a group".
CREATE TABLE user_groups (
    user_id  BIGINT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    group_id BIGINT NOT NULL REFERENCES groups (id) ON DELETE CASCADE,
    PRIMARY KEY (user_id, group_id)
);
CREATE INDEX user_groups_group_user_idx ON user_groups (group_id, user_id);

CREATE TABLE permissions (
    id        INTEGER PRIMARY KEY AUTOINCREMENT,
    app_label VARCHAR(100) NOT NULL,
    codename  VARCHAR(100) NOT NULL,
    name      VARCHAR(255) NOT NULL,
    UNIQUE (app_label, codename)
);

-- Global grants (Django's user_permissions and Group.permissions). The
-- primary keys lead with the holder, as a check asks "what does U hold";
-- the second indexes lead with the permission for the reverse questions.
CREATE TABLE user_permissions (
    user_id       BIGINT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    permission_id BIGINT NOT NULL REFERENCES permissions (id) ON DELETE CASCADE,
    PRIMARY KEY (user_id, permission_id)
);
CREATE INDEX user_permissions_permission_user_idx ON user_permissions (permission_id, user_id);

CREATE TABLE group_permissions (
    group_id      BIGINT NOT NULL REFERENCES groups (id) ON DELETE CASCADE,
    permission_id BIGINT NOT NULL REFERENCES permissions (id) ON DELETE CASCADE,
    PRIMARY KEY (group_id, permission_id)
);
CREATE INDEX group_permissions_permission_group_idx ON group_permissions (permission_id, group_id);

CREATE TABLE projects (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    name       VARCHAR(200) NOT NULL,
    created_at DATETIME  NOT NULL DEFAULT CURRENT_TIMESTAMP
);

CREATE TABLE pages (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    project_id BIGINT       NOT NULL REFERENCES projects (id) ON DELETE CASCADE,
    title      VARCHAR(255) NOT NULL,
    body       TEXT         NOT NULL DEFAULT '',
    created_at DATETIME  NOT NULL DEFAULT CURRENT_TIMESTAMP
);
CREATE INDEX pages_project_id_idx ON pages (project_id, id);

-- A project grant: one row per (project, permission), held by any number
-- of users and groups through the two link tables below.
CREATE TABLE project_permissions (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    project_id    BIGINT NOT NULL REFERENCES projects (id) ON DELETE CASCADE,
    permission_id BIGINT NOT NULL REFERENCES permissions (id) ON DELETE CASCADE,
    UNIQUE (project_id, permission_id)
);
CREATE INDEX project_permissions_permission_project_idx ON project_permissions (permission_id, project_id);

-- The links' primary keys serve "who holds this project grant"; the
-- (holder, grant) indexes serve a check, which starts from the user and
-- from the user's groups.
CREATE TABLE project_permission_users (
    project_permission_id BIGINT NOT NULL REFERENCES project_permissions (id) ON DELETE CASCADE,
    user_id               BIGINT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    PRIMARY KEY (project_permission_id, user_id)
);
CREATE INDEX project_permission_users_user_idx ON project_permission_users (user_id, project_permission_id);

CREATE TABLE project_permission_groups (
    project_permission_id BIGINT NOT NULL REFERENCES project_permissions (id) ON DELETE CASCADE,
    group_id              BIGINT NOT NULL REFERENCES groups (id) ON DELETE CASCADE,
    PRIMARY KEY (project_permission_id, group_id)
);
CREATE INDEX project_permission_groups_group_idx ON project_permission_groups (group_id, project_permission_id);

-- API tokens are stored only as the hex SHA-256 of the secret.
CREATE TABLE api_tokens (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    user_id      BIGINT      NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    name         VARCHAR(100) NOT NULL,
    token_hash   CHAR(64)    NOT NULL UNIQUE,
    created_at   DATETIME NOT NULL DEFAULT CURRENT_TIMESTAMP,
    revoked_at   DATETIME
);
CREATE INDEX api_tokens_user_id_idx ON api_tokens (user_id);

CREATE TABLE decision_logs (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    name        VARCHAR(255) NOT NULL,
    permission  VARCHAR(201) NOT NULL,
    allowed     BOOLEAN      NOT NULL,
    reason      VARCHAR(32)  NOT NULL,
    user_id     BIGINT REFERENCES users (id) ON DELETE SET NULL,
    project_id  BIGINT REFERENCES projects (id) ON DELETE SET NULL,
    object_type VARCHAR(100),
    object_id   VARCHAR(100),
    source      VARCHAR(255) NOT NULL DEFAULT '',
    request_id  VARCHAR(64)  NOT NULL DEFAULT '',
    backend     VARCHAR(100) NOT NULL DEFAULT '',
    created_at  DATETIME  NOT NULL DEFAULT CURRENT_TIMESTAMP
);
CREATE INDEX decision_logs_created_idx ON decision_logs (created_at, id);
CREATE INDEX decision_logs_user_idx ON decision_logs (user_id, created_at);
CREATE INDEX decision_logs_project_idx ON decision_logs (project_id, created_at);

CREATE TABLE decision_log_entries (
    id              INTEGER PRIMARY KEY AUTOINCREMENT,
    decision_log_id BIGINT  NOT NULL REFERENCES decision_logs (id) ON DELETE CASCADE,
    position        INTEGER NOT NULL,
    text            TEXT    NOT NULL,
    tags            VARCHAR(255) NOT NULL DEFAULT '',
    UNIQUE (decision_log_id, position)
);

-- +goose Down
DROP TABLE decision_log_entries;
DROP TABLE decision_logs;
DROP TABLE api_tokens;
DROP TABLE project_permission_groups;
DROP TABLE project_permission_users;
DROP TABLE project_permissions;
DROP TABLE pages;
DROP TABLE projects;
DROP TABLE group_permissions;
DROP TABLE user_permissions;
DROP TABLE permissions;
DROP TABLE user_groups;
DROP TABLE groups;
DROP TABLE users;
