-- The built-in permissions of docs/model.md, seeded like Django's default
-- permissions. Permissions defined later at run time are not touched by
-- the down migration.

-- +goose Up
INSERT INTO permissions (app_label, codename, name) VALUES
    ('projects', 'add_project', 'Can add project'),
    ('projects', 'change_project', 'Can change project'),
    ('projects', 'delete_project', 'Can delete project'),
    ('projects', 'view_project', 'Can view project'),
    ('projects', 'add_page', 'Can add page'),
    ('projects', 'change_page', 'Can change page'),
    ('projects', 'delete_page', 'Can delete page'),
    ('projects', 'view_page', 'Can view page'),
    ('projects', 'publish_page', 'Can publish page'),
    ('projects', 'manage_members', 'Can manage project members'),
    ('auth', 'add_user', 'Can add user'),
    ('auth', 'change_user', 'Can change user'),
    ('auth', 'delete_user', 'Can delete user'),
    ('auth', 'view_user', 'Can view user'),
    ('auth', 'add_group', 'Can add group'),
    ('auth', 'change_group', 'Can change group'),
    ('auth', 'delete_group', 'Can delete group'),
    ('auth', 'view_group', 'Can view group'),
    ('authz', 'view_decisionlog', 'Can view decision log');

-- +goose Down
DELETE FROM permissions WHERE (app_label, codename) IN (VALUES
    ('projects', 'add_project'),
    ('projects', 'change_project'),
    ('projects', 'delete_project'),
    ('projects', 'view_project'),
    ('projects', 'add_page'),
    ('projects', 'change_page'),
    ('projects', 'delete_page'),
    ('projects', 'view_page'),
    ('projects', 'publish_page'),
    ('projects', 'manage_members'),
    ('auth', 'add_user'),
    ('auth', 'change_user'),
    ('auth', 'delete_user'),
    ('auth', 'view_user'),
    ('auth', 'add_group'),
    ('auth', 'change_group'),
    ('auth', 'delete_group'),
    ('auth', 'view_group'),
    ('authz', 'view_decisionlog'));
