-- Identity grows beside API tokens: token expiry and last use, the
-- user_identities of OIDC/JWT issuers, and groups managed by one issuer
-- (migrations/postgres/00009 says why). The last use is written in
-- batches, so the update trigger of api_tokens leaves it out.

-- +goose Up
ALTER TABLE api_tokens ADD COLUMN expires_at DATETIME;
ALTER TABLE api_tokens ADD COLUMN last_used_at DATETIME;
DROP TRIGGER api_tokens_update_revision;
-- +goose StatementBegin
CREATE TRIGGER api_tokens_update_revision AFTER UPDATE OF user_id, token_hash, revoked_at, expires_at ON api_tokens
BEGIN UPDATE authz_revision SET revision = revision + 1 WHERE id = 1; END;
-- +goose StatementEnd

CREATE TABLE user_identities (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    issuer     VARCHAR(255) NOT NULL,
    subject    VARCHAR(255) NOT NULL,
    user_id    BIGINT       NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    created_at DATETIME     NOT NULL DEFAULT CURRENT_TIMESTAMP,
    UNIQUE (issuer, subject)
);
CREATE INDEX user_identities_user_id_idx ON user_identities (user_id);
-- +goose StatementBegin
CREATE TRIGGER user_identities_insert_revision AFTER INSERT ON user_identities
BEGIN UPDATE authz_revision SET revision = revision + 1 WHERE id = 1; END;
-- +goose StatementEnd
-- +goose StatementBegin
CREATE TRIGGER user_identities_update_revision AFTER UPDATE ON user_identities
BEGIN UPDATE authz_revision SET revision = revision + 1 WHERE id = 1; END;
-- +goose StatementEnd
-- +goose StatementBegin
CREATE TRIGGER user_identities_delete_revision AFTER DELETE ON user_identities
BEGIN UPDATE authz_revision SET revision = revision + 1 WHERE id = 1; END;
-- +goose StatementEnd

ALTER TABLE groups ADD COLUMN managed_by_issuer VARCHAR(255);
CREATE INDEX groups_managed_by_issuer_idx ON groups (managed_by_issuer);

-- +goose Down
DROP INDEX groups_managed_by_issuer_idx;
ALTER TABLE groups DROP COLUMN managed_by_issuer;
DROP TRIGGER user_identities_delete_revision;
DROP TRIGGER user_identities_update_revision;
DROP TRIGGER user_identities_insert_revision;
DROP TABLE user_identities;
DROP TRIGGER api_tokens_update_revision;
-- +goose StatementBegin
CREATE TRIGGER api_tokens_update_revision AFTER UPDATE ON api_tokens
BEGIN UPDATE authz_revision SET revision = revision + 1 WHERE id = 1; END;
-- +goose StatementEnd
ALTER TABLE api_tokens DROP COLUMN last_used_at;
ALTER TABLE api_tokens DROP COLUMN expires_at;
