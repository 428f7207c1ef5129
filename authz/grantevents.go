package authz

// The actions of grant events (GrantEvent.Action), one per kind of change
// the store records. Before and After hold small JSON objects: {"held":…}
// for grants, {"member":…} for memberships, the user's flags for user
// changes, and the created or deleted entity's fields for creations and
// deletions ("" on the side where it does not exist).
const (
	ActionDefinePermission    = "define_permission"
	ActionGrantPerm           = "grant_perm"
	ActionRevokePerm          = "revoke_perm"
	ActionGrantProjectPerm    = "grant_project_perm"
	ActionRevokeProjectPerm   = "revoke_project_perm"
	ActionCreateUser          = "create_user"
	ActionUpdateUser          = "update_user"
	ActionDeleteUser          = "delete_user"
	ActionCreateGroup         = "create_group"
	ActionDeleteGroup         = "delete_group"
	ActionAddUserToGroup      = "add_user_to_group"
	ActionRemoveUserFromGroup = "remove_user_from_group"
	ActionCreateProject       = "create_project"
	ActionDeleteProject       = "delete_project"
	ActionCreateRule          = "create_rule"
	ActionDeleteRule          = "delete_rule"
)
