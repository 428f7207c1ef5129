package graph

import (
	"strconv"

	"github.com/grantql/grantql/authz"
	"github.com/grantql/grantql/graph/model"
)

// formatID turns a database id into a GraphQL ID.
func formatID(id int64) string { return strconv.FormatInt(id, 10) }

// parseID turns a GraphQL ID into a database id; an id of another shape is
// a BAD_USER_INPUT error that names the argument.
func parseID(arg, id string) (int64, error) {
	n, err := strconv.ParseInt(id, 10, 64)
	if err != nil || n <= 0 {
		return 0, authz.InvalidInput("%s: %q is not a valid id (want a positive integer)", arg, id)
	}
	return n, nil
}

func userModel(u authz.User) *model.User {
	return &model.User{ID: formatID(u.ID), Username: u.Username, IsActive: u.IsActive, IsSuperuser: u.IsSuperuser, DBID: u.ID}
}

func groupModel(g authz.Group) *model.Group {
	return &model.Group{ID: formatID(g.ID), Name: g.Name, DBID: g.ID}
}

func permissionModel(p authz.Permission) *model.Permission {
	return &model.Permission{ID: formatID(p.ID), AppLabel: p.AppLabel, Codename: p.Codename, Name: p.Name, Key: p.Key()}
}
