package models

import (
	"context"
	"fmt"

	"github.com/grantql/grantql/authz"
)

// visiblePagesSQL lists the pages of the projects in which @user holds
// @perm (visibleProjectsCTE), through pages' (project_id, id) index.
const visiblePagesSQL = visibleProjectsCTE + `
SELECT pg.* FROM pages pg JOIN visible v ON v.id = pg.project_id
 WHERE pg.id > @after ORDER BY pg.id LIMIT @limit`

// VisiblePages returns up to limit pages with id > after, in id order, of
// the projects in which user holds perm: the filter runs in the database,
// so a page of results is never thinned out afterwards. One statement.
func (s *Store) VisiblePages(ctx context.Context, user, perm, after int64, limit int) ([]authz.Page, error) {
	if user == authz.Anonymous {
		return []authz.Page{}, nil
	}
	var rows []Page
	args := map[string]any{"user": user, "perm": perm, "after": after, "limit": limit}
	if err := s.db.WithContext(ctx).Raw(visiblePagesSQL, args).Scan(&rows).Error; err != nil {
		return nil, dbError(fmt.Sprintf("pages visible to user %d", user), err)
	}
	out := make([]authz.Page, len(rows))
	for i, r := range rows {
		out[i] = r.domain()
	}
	return out, nil
}

// CountVisiblePages counts every page VisiblePages would list.
func (s *Store) CountVisiblePages(ctx context.Context, user, perm int64) (int, error) {
	if user == authz.Anonymous {
		return 0, nil
	}
	var n int
	err := s.db.WithContext(ctx).Raw(visibleProjectsCTE+`
SELECT COUNT(*) FROM pages pg JOIN visible v ON v.id = pg.project_id`,
		map[string]any{"user": user, "perm": perm}).Scan(&n).Error
	if err != nil {
		return 0, dbError(fmt.Sprintf("count pages visible to user %d", user), err)
	}
	return n, nil
}
