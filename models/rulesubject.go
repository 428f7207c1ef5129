package models

import (
	"context"
	"database/sql"
	"fmt"
	"sort"

	"github.com/grantql/grantql/authz"
)

// Row kinds of ruleSubjectSQL.
const (
	subjectUser    = 0
	subjectGroup   = 1
	subjectProject = 2
)

// ruleSubjectSQL loads what object rules see, in one statement: the user,
// the names of its groups, and the asked projects that exist. Each branch
// is an index lookup: users and projects by primary key, user_groups by its
// primary key (user_id, group_id), then groups by primary key.
const ruleSubjectSQL = `
SELECT 0 AS kind, u.id AS id, u.username AS name, u.is_superuser AS is_superuser
  FROM users u WHERE u.id = @user
UNION ALL
SELECT 1, g.id, g.name, CAST(NULL AS BOOLEAN)
  FROM user_groups ug JOIN groups g ON g.id = ug.group_id
 WHERE ug.user_id = @user
UNION ALL
SELECT 2, p.id, p.name, CAST(NULL AS BOOLEAN)
  FROM projects p WHERE p.id IN @projects`

// RuleSubject implements authz.RuleSubjectStore in one statement.
func (s *Store) RuleSubject(ctx context.Context, user int64, projects []int64) (authz.RuleUser, map[int64]authz.RuleProject, error) {
	if projects == nil {
		projects = []int64{}
	}
	op := fmt.Sprintf("load the rule subject of user %d", user)
	rows, err := s.db.WithContext(ctx).Raw(ruleSubjectSQL, map[string]any{"user": user, "projects": projects}).Rows()
	if err != nil {
		return authz.RuleUser{}, nil, dbError(op, err)
	}
	defer rows.Close()
	var (
		u     authz.RuleUser
		found bool
		ps    = make(map[int64]authz.RuleProject, len(projects))
	)
	for rows.Next() {
		var (
			kind        int
			id          int64
			name        string
			isSuperuser sql.NullBool
		)
		if err := rows.Scan(&kind, &id, &name, &isSuperuser); err != nil {
			return authz.RuleUser{}, nil, dbError(op, err)
		}
		switch kind {
		case subjectUser:
			found = true
			u.ID, u.Username, u.IsSuperuser = id, name, isSuperuser.Bool
		case subjectGroup:
			u.Groups = append(u.Groups, name)
		case subjectProject:
			ps[id] = authz.RuleProject{ID: id, Name: name}
		}
	}
	if err := rows.Err(); err != nil {
		return authz.RuleUser{}, nil, dbError(op, err)
	}
	if !found {
		return authz.RuleUser{}, nil, &authz.NotFoundError{Kind: "user", ID: user}
	}
	sort.Strings(u.Groups)
	return u, ps, nil
}
