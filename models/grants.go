package models

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/grantql/grantql/authz"
	"gorm.io/gorm"
	"gorm.io/gorm/clause"
)

// Row kinds of loadGrantsSQL.
const (
	rowUser         = 0
	rowGlobalUser   = 1
	rowGlobalGroup  = 2
	rowProjectUser  = 3
	rowProjectGroup = 4
	rowProject      = 5
	rowRevision     = 6
)

// The statement of a cold check: the user's flags, the asked projects that
// exist, and the four grant sources, each branch an index lookup:
//   - users and projects by primary key;
//   - user_permissions by its primary key (user_id, permission_id);
//   - user_groups by its primary key (user_id, group_id), then
//     group_permissions by its primary key (group_id, permission_id);
//   - project_permission_users by (user_id, project_permission_id), then
//     project_permissions by primary key;
//   - project_permissions of the asked projects by (project_id,
//     permission_id, id) (an index-only scan on PostgreSQL), then for each,
//     project_permission_groups by its primary key (project_permission_id,
//     group_id) and user_groups by its primary key. The correlated
//     subquery with LIMIT 1 keeps PostgreSQL's planner from starting at the
//     user's groups instead: a group can hold tens of thousands of project
//     grants, and a check must cost what the asked project holds, not what
//     the user's groups hold elsewhere (docs/benchmarks.md, "Cold checks on
//     skewed data").
//
// The grant branches do not look at the user's flags: an inactive user or
// a superuser needs no grants, and readGrants drops the few such a user
// may hold rather than every check joining users four more times (a
// third of PostgreSQL's work on the statement). The user row carries the
// username too, for the header of a verbosity-2 decision log. The
// revision branch reads the revision (authz_revision's primary key) in the
// same snapshot as the grants, so the shared cache knows exactly which
// revision they are of.
//
// userGrantsSQL and projectGrantsSQL name the user by %[1]s (a parameter,
// or a token's look-up); projectGrantsSQL's projects are %[2]s, and its
// branches are left out when none is asked.
const (
	userGrantsSQL = `
SELECT 0 AS kind, CAST(NULL AS BIGINT) AS project_id, CAST(NULL AS BIGINT) AS permission_id,
       u.is_active AS is_active, u.is_superuser AS is_superuser, u.username AS username
  FROM users u WHERE u.id = %[1]s
UNION ALL
SELECT 1, NULL, up.permission_id, NULL, NULL, NULL FROM user_permissions up WHERE up.user_id = %[1]s
UNION ALL
SELECT 2, NULL, gp.permission_id, NULL, NULL, NULL
  FROM user_groups ug JOIN group_permissions gp ON gp.group_id = ug.group_id
 WHERE ug.user_id = %[1]s`
	revisionSQL = `
UNION ALL
SELECT 6, NULL, r.revision, NULL, NULL, NULL FROM authz_revision r WHERE r.id = 1`
	projectGrantsSQL = `
SELECT 5 AS kind, p.id AS project_id, CAST(NULL AS BIGINT) AS permission_id,
       CAST(NULL AS BOOLEAN) AS is_active, CAST(NULL AS BOOLEAN) AS is_superuser, CAST(NULL AS VARCHAR) AS username
  FROM projects p WHERE p.id IN (%[2]s)
UNION ALL
SELECT 3, pp.project_id, pp.permission_id, NULL, NULL, NULL
  FROM project_permission_users ppu JOIN project_permissions pp ON pp.id = ppu.project_permission_id
 WHERE ppu.user_id = %[1]s AND pp.project_id IN (%[2]s)
UNION ALL
SELECT 4, pp.project_id, pp.permission_id, NULL, NULL, NULL
  FROM project_permissions pp
 WHERE pp.project_id IN (%[2]s)
   AND (SELECT 1 FROM project_permission_groups ppg JOIN user_groups ug ON ug.group_id = ppg.group_id
         WHERE ppg.project_permission_id = pp.id AND ug.user_id = %[1]s LIMIT 1) IS NOT NULL`
)

// loadGrantsSQL returns the statement of a check of one user ($1) in n
// projects ($2, $3, …).
func loadGrantsSQL(n int) string {
	q := fmt.Sprintf(userGrantsSQL, "$1") + revisionSQL
	if n > 0 {
		q += "\nUNION ALL" + fmt.Sprintf(projectGrantsSQL, "$1", params(2, n))
	}
	return q
}

// params returns the placeholders of n parameters from $first on: "$2,$3".
func params(first, n int) string {
	var b strings.Builder
	for i := range n {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteByte('$')
		b.WriteString(strconv.Itoa(first + i))
	}
	return b.String()
}

// LoadGrants implements authz.GrantStore in one statement.
func (s *Store) LoadGrants(ctx context.Context, user int64, projects []int64) (*authz.Grants, error) {
	args := make([]any, 1, len(projects)+1)
	args[0] = user
	for _, p := range projects {
		args = append(args, p)
	}
	rows, err := s.query(ctx, loadGrantsSQL(len(projects)), args...)
	if err != nil {
		return nil, dbError(fmt.Sprintf("load grants of user %d", user), err)
	}
	g, err := readGrants(rows, len(projects), nil, nil)
	if err != nil {
		return nil, dbError(fmt.Sprintf("load grants of user %d", user), err)
	}
	return g, nil
}

// viewerRow is what the token statement's user row adds to a grants
// statement's: the user's id (in the project_id column) and a seventh
// column, created_at.
type viewerRow struct {
	id        int64
	createdAt time.Time
	token     authz.TokenInfo
}

// otherKinds is added to the kind of the rows of a second user's grants in
// a token statement.
const otherKinds = 10

// readGrants reads and closes the rows of a grants statement: kind,
// project_id, permission_id, is_active, is_superuser, username, and
// created_at when viewer is not nil. Rows of a kind from otherKinds on
// fill other, which takes the revision too. Grant rows of a user who is
// inactive or a superuser are dropped: decisions do not read them.
func readGrants(rows *sql.Rows, projects int, viewer *viewerRow, other *authz.Grants) (*authz.Grants, error) {
	defer rows.Close()
	g := newGrants(projects)
	var (
		kind                  int
		project, perm         sql.NullInt64
		isActive, isSuperuser sql.NullBool
		username              sql.NullString
		created               sql.NullTime
	)
	dest := []any{&kind, &project, &perm, &isActive, &isSuperuser, &username}
	if viewer != nil {
		dest = append(dest, &created)
	}
	for rows.Next() {
		if err := rows.Scan(dest...); err != nil {
			return nil, err
		}
		into := g
		if kind >= otherKinds && other != nil {
			into, kind = other, kind-otherKinds
		}
		switch kind {
		case rowRevision:
			into.Revision = perm.Int64
		case rowToken:
			if viewer != nil {
				viewer.token = authz.TokenInfo{ID: project.Int64}
				if created.Valid {
					viewer.token.ExpiresAt = created.Time.UTC()
				}
			}
		case rowUser:
			into.UserFound, into.IsActive, into.IsSuperuser, into.Username = true, isActive.Bool, isSuperuser.Bool, username.String
			if viewer != nil && into == g {
				viewer.id, viewer.createdAt = project.Int64, created.Time
			}
		case rowProject:
			if into.Projects[project.Int64] == nil {
				into.Projects[project.Int64] = map[int64]authz.Sources{}
			}
		case rowGlobalUser:
			into.Global[perm.Int64] |= authz.FromGlobalUser
		case rowGlobalGroup:
			into.Global[perm.Int64] |= authz.FromGlobalGroup
		case rowProjectUser, rowProjectGroup:
			src := authz.FromProjectUser
			if kind == rowProjectGroup {
				src = authz.FromProjectGroup
			}
			if into.Projects[project.Int64] == nil {
				into.Projects[project.Int64] = map[int64]authz.Sources{}
			}
			into.Projects[project.Int64][perm.Int64] |= src
		}
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	dropUnread(g)
	if other != nil {
		other.Revision = g.Revision
		dropUnread(other)
	}
	return g, nil
}

// newGrants returns empty Grants with room for projects.
func newGrants(projects int) *authz.Grants {
	return &authz.Grants{Global: map[int64]authz.Sources{}, Projects: make(map[int64]map[int64]authz.Sources, projects)}
}

// dropUnread empties the grants of an inactive user or a superuser,
// keeping which projects exist.
func dropUnread(g *authz.Grants) {
	if !g.IsActive || g.IsSuperuser {
		clear(g.Global)
		for p := range g.Projects {
			g.Projects[p] = map[int64]authz.Sources{}
		}
	}
}

// exists returns a *authz.NotFoundError unless table holds a row with id.
func exists(tx *gorm.DB, kind, table string, id int64) error {
	var n int64
	if err := tx.Table(table).Where("id = ?", id).Count(&n).Error; err != nil {
		return dbError(fmt.Sprintf("look up %s %d", kind, id), err)
	}
	if n == 0 {
		return &authz.NotFoundError{Kind: kind, ID: id}
	}
	return nil
}

// holderExists checks that the holder's user or group exists.
func holderExists(tx *gorm.DB, h authz.Holder) error {
	if h.User > 0 {
		return exists(tx, "user", "users", h.User)
	}
	return exists(tx, "group", "groups", h.Group)
}

// insertIgnore inserts row unless an equal key exists, and says whether it
// did: granting twice leaves one row, records one event, and is not an
// error.
func insertIgnore(tx *gorm.DB, row any) (bool, error) {
	res := tx.Clauses(clause.OnConflict{DoNothing: true}).Create(row)
	return res.RowsAffected > 0, res.Error
}

// GrantPerm implements authz.GrantWriter.
func (s *Store) GrantPerm(ctx context.Context, h authz.Holder, perm int64) error {
	err := s.db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		if err := holderExists(tx, h); err != nil {
			return err
		}
		key, err := permKey(tx, perm)
		if err != nil {
			return err
		}
		var added bool
		if h.User > 0 {
			added, err = insertIgnore(tx, &UserPermission{UserID: h.User, PermissionID: perm})
		} else {
			added, err = insertIgnore(tx, &GroupPermission{GroupID: h.Group, PermissionID: perm})
		}
		if err != nil || !added {
			return err
		}
		return recordEvent(ctx, tx, holderEvent(authz.ActionGrantPerm, h, key, 0, heldState{false}, heldState{true}))
	})
	return txError(fmt.Sprintf("grant permission %d", perm), s.vanished(ctx, err, holderRow(h), permissionRow(perm)))
}

// RevokePerm implements authz.GrantWriter.
func (s *Store) RevokePerm(ctx context.Context, h authz.Holder, perm int64) (bool, error) {
	var removed bool
	err := s.db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		if err := holderExists(tx, h); err != nil {
			return err
		}
		var res *gorm.DB
		if h.User > 0 {
			res = tx.Where("user_id = ? AND permission_id = ?", h.User, perm).Delete(&UserPermission{})
		} else {
			res = tx.Where("group_id = ? AND permission_id = ?", h.Group, perm).Delete(&GroupPermission{})
		}
		if res.Error != nil || res.RowsAffected == 0 {
			return res.Error
		}
		removed = true
		key, err := permKey(tx, perm)
		if err != nil {
			return err
		}
		return recordEvent(ctx, tx, holderEvent(authz.ActionRevokePerm, h, key, 0, heldState{true}, heldState{false}))
	})
	return removed, txError(fmt.Sprintf("revoke permission %d", perm), err)
}

// GrantProjectPerm implements authz.GrantWriter: it makes sure the
// (project, permission) row exists, then links the holder to it.
func (s *Store) GrantProjectPerm(ctx context.Context, h authz.Holder, perm, project int64) error {
	err := s.db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		if err := exists(tx, "project", "projects", project); err != nil {
			return err
		}
		if err := holderExists(tx, h); err != nil {
			return err
		}
		key, err := permKey(tx, perm)
		if err != nil {
			return err
		}
		added, err := linkProjectPerm(tx, h, perm, project)
		if err != nil || !added {
			return err
		}
		return recordEvent(ctx, tx, holderEvent(authz.ActionGrantProjectPerm, h, key, project, heldState{false}, heldState{true}))
	})
	return txError(fmt.Sprintf("grant permission %d in project %d", perm, project),
		s.vanished(ctx, err, projectRow(project), holderRow(h), permissionRow(perm)))
}

// linkProjectPerm links the holder to the (project, permission) row,
// creating the row when needed, and says whether the link is new.
func linkProjectPerm(tx *gorm.DB, h authz.Holder, perm, project int64) (bool, error) {
	if _, err := insertIgnore(tx, &ProjectPermission{ProjectID: project, PermissionID: perm}); err != nil {
		return false, err
	}
	var pp ProjectPermission
	if err := tx.Where("project_id = ? AND permission_id = ?", project, perm).Take(&pp).Error; err != nil {
		return false, err
	}
	if h.User > 0 {
		return insertIgnore(tx, &ProjectPermissionUser{ProjectPermissionID: pp.ID, UserID: h.User})
	}
	return insertIgnore(tx, &ProjectPermissionGroup{ProjectPermissionID: pp.ID, GroupID: h.Group})
}

// RevokeProjectPerm implements authz.GrantWriter. A (project, permission)
// row left without holders is deleted with its last link.
func (s *Store) RevokeProjectPerm(ctx context.Context, h authz.Holder, perm, project int64) (bool, error) {
	var removed bool
	err := s.db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		if err := exists(tx, "project", "projects", project); err != nil {
			return err
		}
		if err := holderExists(tx, h); err != nil {
			return err
		}
		var pp ProjectPermission
		err := tx.Where("project_id = ? AND permission_id = ?", project, perm).Take(&pp).Error
		if errors.Is(err, gorm.ErrRecordNotFound) {
			return nil
		}
		if err != nil {
			return err
		}
		var res *gorm.DB
		if h.User > 0 {
			res = tx.Where("project_permission_id = ? AND user_id = ?", pp.ID, h.User).Delete(&ProjectPermissionUser{})
		} else {
			res = tx.Where("project_permission_id = ? AND group_id = ?", pp.ID, h.Group).Delete(&ProjectPermissionGroup{})
		}
		if res.Error != nil || res.RowsAffected == 0 {
			return res.Error
		}
		removed = true
		err = tx.Exec(`DELETE FROM project_permissions WHERE id = ?
			AND NOT EXISTS (SELECT 1 FROM project_permission_users WHERE project_permission_id = ?)
			AND NOT EXISTS (SELECT 1 FROM project_permission_groups WHERE project_permission_id = ?)`,
			pp.ID, pp.ID, pp.ID).Error
		if err != nil {
			return err
		}
		key, err := permKey(tx, perm)
		if err != nil {
			return err
		}
		return recordEvent(ctx, tx, holderEvent(authz.ActionRevokeProjectPerm, h, key, project, heldState{true}, heldState{false}))
	})
	return removed, txError(fmt.Sprintf("revoke permission %d in project %d", perm, project), err)
}

// txError passes the engine's typed errors through and wraps the rest.
func txError(op string, err error) error {
	var nf *authz.NotFoundError
	if err == nil || errors.As(err, &nf) || errors.Is(err, authz.ErrConflict) || errors.Is(err, authz.ErrInvalidInput) {
		return err
	}
	return dbError(op, err)
}

// createUser inserts a user and its create_user event in tx.
func createUser(ctx context.Context, tx *gorm.DB, row *User) error {
	if err := tx.Create(row).Error; err != nil {
		return err
	}
	return recordEvent(ctx, tx, authz.GrantEvent{Action: authz.ActionCreateUser, User: row.ID,
		After: state(userState{Username: row.Username, IsActive: row.IsActive, IsSuperuser: row.IsSuperuser})})
}

// CreateUser implements authz.GrantWriter; a taken username is authz.ErrConflict.
func (s *Store) CreateUser(ctx context.Context, u authz.User) (authz.User, error) {
	row := User{Username: u.Username, IsActive: u.IsActive, IsSuperuser: u.IsSuperuser}
	err := s.db.WithContext(ctx).Transaction(func(tx *gorm.DB) error { return createUser(ctx, tx, &row) })
	if err != nil {
		err = dbError(fmt.Sprintf("create user %q", u.Username), err)
		if errors.Is(err, authz.ErrConflict) {
			err = authz.Conflict("username %q is taken", u.Username)
		}
		return authz.User{}, err
	}
	return row.domain(), nil
}

// UpdateUser implements authz.GrantWriter. Only a change of a flag is
// written and recorded.
func (s *Store) UpdateUser(ctx context.Context, id int64, isActive, isSuperuser *bool) (authz.User, error) {
	var u User
	err := s.db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		if err := tx.Take(&u, id).Error; errors.Is(err, gorm.ErrRecordNotFound) {
			return &authz.NotFoundError{Kind: "user", ID: id}
		} else if err != nil {
			return err
		}
		before := userState{IsActive: u.IsActive, IsSuperuser: u.IsSuperuser}
		changes := map[string]any{}
		if isActive != nil && *isActive != u.IsActive {
			changes["is_active"], u.IsActive = *isActive, *isActive
		}
		if isSuperuser != nil && *isSuperuser != u.IsSuperuser {
			changes["is_superuser"], u.IsSuperuser = *isSuperuser, *isSuperuser
		}
		if len(changes) == 0 {
			return nil
		}
		if err := tx.Model(&User{}).Where("id = ?", id).Updates(changes).Error; err != nil {
			return err
		}
		return recordEvent(ctx, tx, authz.GrantEvent{Action: authz.ActionUpdateUser, User: id,
			Before: state(before), After: state(userState{IsActive: u.IsActive, IsSuperuser: u.IsSuperuser})})
	})
	return u.domain(), txError(fmt.Sprintf("update user %d", id), err)
}

// deleteByID deletes the row of model with id; the foreign keys cascade.
func (s *Store) deleteByID(ctx context.Context, kind string, model any, id int64) (bool, error) {
	res := s.db.WithContext(ctx).Delete(model, id)
	if res.Error != nil {
		return false, dbError(fmt.Sprintf("delete %s %d", kind, id), res.Error)
	}
	return res.RowsAffected > 0, nil
}

// logReferences names the column of decision_logs that refers to a kind
// of row deleteRecorded deletes.
var logReferences = map[string]string{"user": "user_id", "project": "project_id"}

// deleteRecorded loads the row of model with id, deletes it (the foreign
// keys cascade) and records the event that event builds from the loaded
// row, in one transaction; false when there was no row.
func (s *Store) deleteRecorded(ctx context.Context, kind string, model any, id int64, event func() authz.GrantEvent) (bool, error) {
	var deleted bool
	err := s.db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		if err := tx.Take(model, id).Error; errors.Is(err, gorm.ErrRecordNotFound) {
			return nil
		} else if err != nil {
			return err
		}
		res := tx.Delete(model, id)
		if res.Error != nil || res.RowsAffected == 0 {
			return res.Error
		}
		deleted = true
		if column := logReferences[kind]; column != "" && s.dialect == Postgres {
			// decision_logs has no foreign keys on PostgreSQL (migration
			// 00010): its logs lose the reference as ON DELETE SET NULL
			// would. After the delete, which waited for any batch of the
			// log writer holding the row (logReferencesSQL), so that this
			// statement sees that batch's logs.
			if err := tx.Exec(`UPDATE decision_logs SET `+column+` = NULL WHERE `+column+` = ?`, id).Error; err != nil {
				return err
			}
		}
		return recordEvent(ctx, tx, event())
	})
	return deleted, txError(fmt.Sprintf("delete %s %d", kind, id), err)
}

// DeleteUser implements authz.GrantWriter.
func (s *Store) DeleteUser(ctx context.Context, id int64) (bool, error) {
	var u User
	return s.deleteRecorded(ctx, "user", &u, id, func() authz.GrantEvent {
		return authz.GrantEvent{Action: authz.ActionDeleteUser, User: id,
			Before: state(userState{Username: u.Username, IsActive: u.IsActive, IsSuperuser: u.IsSuperuser})}
	})
}

// CreateGroup implements authz.GrantWriter; a taken name is authz.ErrConflict.
func (s *Store) CreateGroup(ctx context.Context, name string) (authz.Group, error) {
	row := Group{Name: name}
	err := s.db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		if err := tx.Create(&row).Error; err != nil {
			return err
		}
		return recordEvent(ctx, tx, authz.GrantEvent{Action: authz.ActionCreateGroup, Group: row.ID, After: state(nameState{name})})
	})
	if err != nil {
		err = dbError(fmt.Sprintf("create group %q", name), err)
		if errors.Is(err, authz.ErrConflict) {
			err = authz.Conflict("group name %q is taken", name)
		}
		return authz.Group{}, err
	}
	return authz.Group{ID: row.ID, Name: row.Name}, nil
}

// DeleteGroup implements authz.GrantWriter.
func (s *Store) DeleteGroup(ctx context.Context, id int64) (bool, error) {
	var g Group
	return s.deleteRecorded(ctx, "group", &g, id, func() authz.GrantEvent {
		return authz.GrantEvent{Action: authz.ActionDeleteGroup, Group: id, Before: state(nameState{g.Name})}
	})
}

// AddUserToGroup implements authz.GrantWriter.
func (s *Store) AddUserToGroup(ctx context.Context, user, group int64) error {
	err := s.db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		if err := exists(tx, "user", "users", user); err != nil {
			return err
		}
		if err := exists(tx, "group", "groups", group); err != nil {
			return err
		}
		added, err := insertIgnore(tx, &UserGroup{UserID: user, GroupID: group})
		if err != nil || !added {
			return err
		}
		return recordEvent(ctx, tx, authz.GrantEvent{Action: authz.ActionAddUserToGroup, User: user, Group: group,
			Before: state(memberState{false}), After: state(memberState{true})})
	})
	return txError(fmt.Sprintf("add user %d to group %d", user, group), s.vanished(ctx, err, userRow(user), groupRow(group)))
}

// RemoveUserFromGroup implements authz.GrantWriter.
func (s *Store) RemoveUserFromGroup(ctx context.Context, user, group int64) (bool, error) {
	var removed bool
	err := s.db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		if err := exists(tx, "user", "users", user); err != nil {
			return err
		}
		if err := exists(tx, "group", "groups", group); err != nil {
			return err
		}
		res := tx.Where("user_id = ? AND group_id = ?", user, group).Delete(&UserGroup{})
		if res.Error != nil || res.RowsAffected == 0 {
			return res.Error
		}
		removed = true
		return recordEvent(ctx, tx, authz.GrantEvent{Action: authz.ActionRemoveUserFromGroup, User: user, Group: group,
			Before: state(memberState{true}), After: state(memberState{false})})
	})
	return removed, txError(fmt.Sprintf("remove user %d from group %d", user, group), err)
}

// CreateProject implements authz.GrantWriter. It records the creation,
// with the creator as its user, and one grant_project_perm event per
// permission the creator receives, so that the trail of a user's grants in
// a project starts with the project.
func (s *Store) CreateProject(ctx context.Context, name string, creator int64, perms []int64) (authz.Project, error) {
	row := Project{Name: name}
	err := s.db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		if creator > 0 {
			if err := exists(tx, "user", "users", creator); err != nil {
				return err
			}
		}
		if err := tx.Create(&row).Error; err != nil {
			return err
		}
		err := recordEvent(ctx, tx, authz.GrantEvent{Action: authz.ActionCreateProject, User: creator, Project: row.ID,
			After: state(nameState{name})})
		if err != nil || creator == 0 || len(perms) == 0 {
			return err
		}
		keys, err := permKeys(tx, perms)
		if err != nil {
			return err
		}
		h := authz.Holder{User: creator}
		for _, p := range perms {
			key, ok := keys[p]
			if !ok {
				return &authz.NotFoundError{Kind: "permission", ID: p}
			}
			added, err := linkProjectPerm(tx, h, p, row.ID)
			if err != nil {
				return err
			}
			if added {
				if err := recordEvent(ctx, tx, holderEvent(authz.ActionGrantProjectPerm, h, key, row.ID, heldState{false}, heldState{true})); err != nil {
					return err
				}
			}
		}
		return nil
	})
	if err != nil {
		return authz.Project{}, txError(fmt.Sprintf("create project %q", name), s.vanished(ctx, err, userRow(creator)))
	}
	return authz.Project{ID: row.ID, Name: row.Name, CreatedAt: row.CreatedAt}, nil
}

// DeleteProject implements authz.GrantWriter.
func (s *Store) DeleteProject(ctx context.Context, id int64) (bool, error) {
	var p Project
	return s.deleteRecorded(ctx, "project", &p, id, func() authz.GrantEvent {
		return authz.GrantEvent{Action: authz.ActionDeleteProject, Project: id, Before: state(nameState{p.Name})}
	})
}
