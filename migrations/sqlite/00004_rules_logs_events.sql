-- Object-level rules and decision logs (docs/model.md): pages gain the
-- attributes the built-in page rules read, declarative rules get a table,
-- decision logs get an index per filter of the decisionLogs query and a
-- tag table, and changes to grants are audited in grant_events.
--
-- Decision logs and grant events are read newest first with a keyset on
-- id ("id < cursor ORDER BY id DESC"), so every filter's index ends in id:
-- an equality on its leading columns then reads the matching rows already
-- in id order and stops after one page.

-- +goose Up
ALTER TABLE pages ADD COLUMN published BOOLEAN NOT NULL DEFAULT FALSE;
ALTER TABLE pages ADD COLUMN author_id BIGINT REFERENCES users (id) ON DELETE SET NULL;
-- Deleting a user sets its pages' author to NULL; this index spares that
-- a scan of pages.
CREATE INDEX pages_author_id_idx ON pages (author_id);

INSERT INTO permissions (app_label, codename, name) VALUES ('authz', 'change_rule', 'Can change rule');

-- A declarative object-level rule: a CEL expression deciding permission
-- for objects of object_type. At most one per (permission, object type);
-- the unique index is also how a check finds the rule.
CREATE TABLE rules (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    permission  VARCHAR(201) NOT NULL,
    object_type VARCHAR(100) NOT NULL,
    expression  TEXT         NOT NULL,
    description TEXT         NOT NULL DEFAULT '',
    created_at  DATETIME     NOT NULL DEFAULT CURRENT_TIMESTAMP,
    UNIQUE (permission, object_type)
);

-- The username at the time of the check: user_id becomes NULL when the
-- user is deleted, and the trail should still say who it was.
ALTER TABLE decision_logs ADD COLUMN username VARCHAR(150) NOT NULL DEFAULT '';

-- One index per filter of DecisionLogFilter, each ending in id for the
-- keyset. (created_at, id) from 00001 stays: it serves since/until and the
-- retention purge. The (user_id, created_at) and (project_id, created_at)
-- indexes are replaced by (…, id) ones. The object index leads with the
-- object id, the selective half: it serves an object (type and id) in id
-- order, and an object id alone; an object type alone, which matches a
-- large share of all logs, is best read through the primary key, newest
-- first, until a page is full.
DROP INDEX decision_logs_user_idx;
DROP INDEX decision_logs_project_idx;
CREATE INDEX decision_logs_user_id_idx ON decision_logs (user_id, id);
CREATE INDEX decision_logs_project_id_idx ON decision_logs (project_id, id);
CREATE INDEX decision_logs_permission_id_idx ON decision_logs (permission, id);
CREATE INDEX decision_logs_name_id_idx ON decision_logs (name, id);
CREATE INDEX decision_logs_object_id_idx ON decision_logs (object_id, object_type, id);
CREATE INDEX decision_logs_allowed_id_idx ON decision_logs (allowed, id);
CREATE INDEX decision_logs_reason_id_idx ON decision_logs (reason, id);

-- A log has a tag when any of its entries has it. The entries keep their
-- tags as text for display; this table, with the tag first in its primary
-- key, makes "the logs tagged T, newest first" one backward index range.
-- The second index serves the cascade when logs are purged.
CREATE TABLE decision_log_tags (
    decision_log_id BIGINT       NOT NULL REFERENCES decision_logs (id) ON DELETE CASCADE,
    tag             VARCHAR(100) NOT NULL,
    PRIMARY KEY (tag, decision_log_id)
);
CREATE INDEX decision_log_tags_log_idx ON decision_log_tags (decision_log_id);

-- The audit trail of changes to grants, memberships, user flags and rules.
-- actor_id, user_id, group_id and project_id have no foreign keys on
-- purpose: the trail outlives the users, groups and projects it mentions,
-- and must say who did what even after they are deleted.
CREATE TABLE grant_events (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    actor_id   BIGINT,
    action     VARCHAR(64)  NOT NULL,
    user_id    BIGINT,
    group_id   BIGINT,
    project_id BIGINT,
    permission VARCHAR(201) NOT NULL DEFAULT '',
    before     TEXT         NOT NULL DEFAULT '',
    after      TEXT         NOT NULL DEFAULT '',
    created_at DATETIME     NOT NULL DEFAULT CURRENT_TIMESTAMP
);
CREATE INDEX grant_events_actor_id_idx ON grant_events (actor_id, id);
CREATE INDEX grant_events_action_id_idx ON grant_events (action, id);
CREATE INDEX grant_events_user_id_idx ON grant_events (user_id, id);
CREATE INDEX grant_events_group_id_idx ON grant_events (group_id, id);
CREATE INDEX grant_events_project_id_idx ON grant_events (project_id, id);
CREATE INDEX grant_events_permission_id_idx ON grant_events (permission, id);
CREATE INDEX grant_events_created_idx ON grant_events (created_at, id);

-- +goose Down
DROP TABLE grant_events;
DROP TABLE decision_log_tags;

DROP INDEX decision_logs_reason_id_idx;
DROP INDEX decision_logs_allowed_id_idx;
DROP INDEX decision_logs_object_id_idx;
DROP INDEX decision_logs_name_id_idx;
DROP INDEX decision_logs_permission_id_idx;
DROP INDEX decision_logs_project_id_idx;
DROP INDEX decision_logs_user_id_idx;
CREATE INDEX decision_logs_user_idx ON decision_logs (user_id, created_at);
CREATE INDEX decision_logs_project_idx ON decision_logs (project_id, created_at);
ALTER TABLE decision_logs DROP COLUMN username;

DROP TABLE rules;

DELETE FROM permissions WHERE app_label = 'authz' AND codename = 'change_rule';

DROP INDEX pages_author_id_idx;
ALTER TABLE pages DROP COLUMN author_id;
ALTER TABLE pages DROP COLUMN published;
