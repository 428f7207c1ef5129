-- Superusers hold every permission, so each reverse question about a
-- project ("who may view pages here?") starts by listing them. Without an
-- index that means reading all of users; this partial index holds only
-- the few superuser rows, so listing them costs a lookup whatever the
-- number of users.

-- +goose Up
CREATE INDEX users_superuser_idx ON users (id) WHERE is_superuser;

-- +goose Down
DROP INDEX users_superuser_idx;
