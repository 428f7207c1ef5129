package models

import (
	"context"
	"errors"
	"fmt"

	"github.com/grantql/grantql/authz"
	"gorm.io/gorm"
)

// This file holds the plain reads and the page writes the GraphQL API
// needs beside the engine's questions. Lists are keyset-paginated by id:
// they ask for limit rows with id > after, in id order.

func (p Project) domain() authz.Project {
	return authz.Project{ID: p.ID, Name: p.Name, CreatedAt: p.CreatedAt}
}

func (p Page) domain() authz.Page {
	return authz.Page{ID: p.ID, ProjectID: p.ProjectID, Title: p.Title, Body: p.Body,
		Published: p.Published, AuthorID: deref(p.AuthorID), CreatedAt: p.CreatedAt}
}

// ref maps an id to a nullable column: 0 stands for NULL.
func ref(id int64) *int64 {
	if id == 0 {
		return nil
	}
	return &id
}

// deref maps a nullable id column back: NULL is 0.
func deref(id *int64) int64 {
	if id == nil {
		return 0
	}
	return *id
}

// takeByID loads the row of dest's table with id: a *authz.NotFoundError
// when there is none.
func (s *Store) takeByID(ctx context.Context, kind string, dest any, id int64) error {
	err := s.db.WithContext(ctx).Take(dest, id).Error
	if errors.Is(err, gorm.ErrRecordNotFound) {
		return &authz.NotFoundError{Kind: kind, ID: id}
	}
	return dbError(fmt.Sprintf("load %s %d", kind, id), err)
}

// Project returns a project by id.
func (s *Store) Project(ctx context.Context, id int64) (authz.Project, error) {
	var p Project
	if err := s.takeByID(ctx, "project", &p, id); err != nil {
		return authz.Project{}, err
	}
	return p.domain(), nil
}

// Projects returns the projects with the given ids that exist, by id.
func (s *Store) Projects(ctx context.Context, ids []int64) (map[int64]authz.Project, error) {
	var rows []Project
	if err := s.db.WithContext(ctx).Where("id IN ?", ids).Find(&rows).Error; err != nil {
		return nil, dbError("load projects", err)
	}
	out := make(map[int64]authz.Project, len(rows))
	for _, r := range rows {
		out[r.ID] = r.domain()
	}
	return out, nil
}

// Group returns a group by id.
func (s *Store) Group(ctx context.Context, id int64) (authz.Group, error) {
	var g Group
	if err := s.takeByID(ctx, "group", &g, id); err != nil {
		return authz.Group{}, err
	}
	return authz.Group{ID: g.ID, Name: g.Name}, nil
}

// page runs a keyset-paginated list query on model's table.
func (s *Store) page(ctx context.Context, dest any, model any, after int64, limit int, where ...any) error {
	q := s.db.WithContext(ctx).Model(model).Where("id > ?", after)
	if len(where) > 0 {
		q = q.Where(where[0], where[1:]...)
	}
	return q.Order("id").Limit(limit).Find(dest).Error
}

// count counts the rows of model's table.
func (s *Store) count(ctx context.Context, model any, where ...any) (int, error) {
	var n int64
	q := s.db.WithContext(ctx).Model(model)
	if len(where) > 0 {
		q = q.Where(where[0], where[1:]...)
	}
	err := q.Count(&n).Error
	return int(n), err
}

// Users returns up to limit users with id > after.
func (s *Store) Users(ctx context.Context, after int64, limit int) ([]authz.User, error) {
	var rows []User
	if err := s.page(ctx, &rows, &User{}, after, limit); err != nil {
		return nil, dbError("list users", err)
	}
	out := make([]authz.User, len(rows))
	for i, r := range rows {
		out[i] = r.domain()
	}
	return out, nil
}

// Groups returns up to limit groups with id > after.
func (s *Store) Groups(ctx context.Context, after int64, limit int) ([]authz.Group, error) {
	var rows []Group
	if err := s.page(ctx, &rows, &Group{}, after, limit); err != nil {
		return nil, dbError("list groups", err)
	}
	out := make([]authz.Group, len(rows))
	for i, r := range rows {
		out[i] = authz.Group{ID: r.ID, Name: r.Name}
	}
	return out, nil
}

// CountGroups counts all groups.
func (s *Store) CountGroups(ctx context.Context) (int, error) {
	n, err := s.count(ctx, &Group{})
	return n, dbError("count groups", err)
}

// Page returns a page by id.
func (s *Store) Page(ctx context.Context, id int64) (authz.Page, error) {
	var p Page
	if err := s.takeByID(ctx, "page", &p, id); err != nil {
		return authz.Page{}, err
	}
	return p.domain(), nil
}

// ProjectPages returns up to limit pages of a project with id > after,
// through the (project_id, id) index.
func (s *Store) ProjectPages(ctx context.Context, project, after int64, limit int) ([]authz.Page, error) {
	var rows []Page
	if err := s.page(ctx, &rows, &Page{}, after, limit, "project_id = ?", project); err != nil {
		return nil, dbError(fmt.Sprintf("list pages of project %d", project), err)
	}
	out := make([]authz.Page, len(rows))
	for i, r := range rows {
		out[i] = r.domain()
	}
	return out, nil
}

// CountProjectPages counts the pages of a project.
func (s *Store) CountProjectPages(ctx context.Context, project int64) (int, error) {
	n, err := s.count(ctx, &Page{}, "project_id = ?", project)
	return n, dbError(fmt.Sprintf("count pages of project %d", project), err)
}

// ProjectPagesBatch returns, for each of projects, up to limit of its
// pages with id > after, in one statement: ROW_NUMBER over each project's
// pages in id order, through the (project_id, id) index. Projects without
// such pages have no entry.
func (s *Store) ProjectPagesBatch(ctx context.Context, projects []int64, after int64, limit int) (map[int64][]authz.Page, error) {
	out := make(map[int64][]authz.Page, len(projects))
	if len(projects) == 0 || limit <= 0 {
		return out, nil
	}
	var rows []Page
	err := s.db.WithContext(ctx).Raw(`SELECT id, project_id, title, body, published, author_id, created_at FROM (
		SELECT id, project_id, title, body, published, author_id, created_at,
			ROW_NUMBER() OVER (PARTITION BY project_id ORDER BY id) AS rn
		FROM pages WHERE project_id IN ? AND id > ?) ranked
		WHERE rn <= ? ORDER BY project_id, id`, projects, after, limit).Scan(&rows).Error
	if err != nil {
		return nil, dbError(fmt.Sprintf("list pages of %d projects", len(projects)), err)
	}
	for _, r := range rows {
		out[r.ProjectID] = append(out[r.ProjectID], r.domain())
	}
	return out, nil
}

// CountProjectPagesBatch counts the pages of each of projects in one
// statement. Projects without pages have no entry.
func (s *Store) CountProjectPagesBatch(ctx context.Context, projects []int64) (map[int64]int, error) {
	out := make(map[int64]int, len(projects))
	if len(projects) == 0 {
		return out, nil
	}
	var rows []struct {
		ProjectID int64
		N         int
	}
	err := s.db.WithContext(ctx).Model(&Page{}).Select("project_id, COUNT(*) AS n").
		Where("project_id IN ?", projects).Group("project_id").Scan(&rows).Error
	if err != nil {
		return nil, dbError(fmt.Sprintf("count pages of %d projects", len(projects)), err)
	}
	for _, r := range rows {
		out[r.ProjectID] = r.N
	}
	return out, nil
}

// CreatePage creates a page in a project, with its author (0: none) and
// published flag.
func (s *Store) CreatePage(ctx context.Context, p authz.Page) (authz.Page, error) {
	row := Page{ProjectID: p.ProjectID, Title: p.Title, Body: p.Body, Published: p.Published, AuthorID: ref(p.AuthorID)}
	err := s.db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		if err := exists(tx, "project", "projects", p.ProjectID); err != nil {
			return err
		}
		if p.AuthorID != 0 {
			if err := exists(tx, "user", "users", p.AuthorID); err != nil {
				return err
			}
		}
		return tx.Create(&row).Error
	})
	if err != nil {
		return authz.Page{}, txError(fmt.Sprintf("create page in project %d", p.ProjectID),
			s.vanished(ctx, err, projectRow(p.ProjectID), userRow(p.AuthorID)))
	}
	return row.domain(), nil
}

// updatePage applies changes to a page and returns it as it is after
// them, in one transaction: a *authz.NotFoundError when there is no page.
func (s *Store) updatePage(ctx context.Context, op string, id int64, changes map[string]any) (authz.Page, error) {
	var row Page
	err := s.db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		if len(changes) > 0 {
			res := tx.Model(&Page{}).Where("id = ?", id).Updates(changes)
			if res.Error != nil {
				return res.Error
			}
			if res.RowsAffected == 0 {
				return &authz.NotFoundError{Kind: "page", ID: id}
			}
		}
		err := tx.Take(&row, id).Error
		if errors.Is(err, gorm.ErrRecordNotFound) {
			return &authz.NotFoundError{Kind: "page", ID: id}
		}
		return err
	})
	if err != nil {
		return authz.Page{}, txError(fmt.Sprintf("%s page %d", op, id), err)
	}
	return row.domain(), nil
}

// UpdatePage changes a page's title and body; a nil one stays as it is.
func (s *Store) UpdatePage(ctx context.Context, id int64, title, body *string) (authz.Page, error) {
	changes := map[string]any{}
	if title != nil {
		changes["title"] = *title
	}
	if body != nil {
		changes["body"] = *body
	}
	return s.updatePage(ctx, "update", id, changes)
}

// PublishPage publishes a page, or takes it back to a draft.
func (s *Store) PublishPage(ctx context.Context, id int64, published bool) (authz.Page, error) {
	return s.updatePage(ctx, "publish", id, map[string]any{"published": published})
}

// DeletePage deletes a page; false when there was none.
func (s *Store) DeletePage(ctx context.Context, id int64) (bool, error) {
	return s.deleteByID(ctx, "page", &Page{}, id)
}

// ProjectGrant is one permission held in a project, with its holders.
type ProjectGrant struct {
	PermissionID int64
	Users        []authz.User
	Groups       []authz.Group
}

// ProjectGrants returns the project grants of a project, by permission id,
// each with its users and groups by name, in one statement through
// project_permissions' unique (project_id, permission_id) and the link
// tables' primary keys.
func (s *Store) ProjectGrants(ctx context.Context, project int64, perm int64) ([]ProjectGrant, error) {
	const q = `
SELECT pp.permission_id, 'u' AS kind, u.id, u.username, u.is_active, u.is_superuser
  FROM project_permissions pp
  JOIN project_permission_users ppu ON ppu.project_permission_id = pp.id
  JOIN users u ON u.id = ppu.user_id
 WHERE pp.project_id = @project AND (@perm = 0 OR pp.permission_id = @perm)
UNION ALL
SELECT pp.permission_id, 'g', g.id, g.name, FALSE, FALSE
  FROM project_permissions pp
  JOIN project_permission_groups ppg ON ppg.project_permission_id = pp.id
  JOIN groups g ON g.id = ppg.group_id
 WHERE pp.project_id = @project AND (@perm = 0 OR pp.permission_id = @perm)
 ORDER BY 1, 2, 4`
	rows, err := s.db.WithContext(ctx).Raw(q, map[string]any{"project": project, "perm": perm}).Rows()
	if err != nil {
		return nil, dbError(fmt.Sprintf("list grants of project %d", project), err)
	}
	defer rows.Close()
	var out []ProjectGrant
	for rows.Next() {
		var (
			permID, id       int64
			kind, name       string
			active, superusr bool
		)
		if err := rows.Scan(&permID, &kind, &id, &name, &active, &superusr); err != nil {
			return nil, dbError("scan project grant", err)
		}
		if len(out) == 0 || out[len(out)-1].PermissionID != permID {
			out = append(out, ProjectGrant{PermissionID: permID, Users: []authz.User{}, Groups: []authz.Group{}})
		}
		g := &out[len(out)-1]
		if kind == "u" {
			g.Users = append(g.Users, authz.User{ID: id, Username: name, IsActive: active, IsSuperuser: superusr})
		} else {
			g.Groups = append(g.Groups, authz.Group{ID: id, Name: name})
		}
	}
	return out, dbError("scan project grants", rows.Err())
}

// holderGrantsSQL lists (project, permission) pairs a holder holds; project
// 0 stands for a global grant. For a user, what its groups hold counts too.
// Every branch starts from the holder's side of an index: the grant
// tables' primary keys, user_groups' primary key, and the link tables'
// (holder, grant) indexes.
const holderGrantsSQL = `
SELECT 0 AS project_id, up.permission_id FROM user_permissions up WHERE up.user_id = @user
UNION
SELECT 0, gp.permission_id FROM group_permissions gp
 WHERE gp.group_id = @group OR gp.group_id IN (SELECT group_id FROM user_groups WHERE user_id = @user)
UNION
SELECT pp.project_id, pp.permission_id FROM project_permission_users ppu
  JOIN project_permissions pp ON pp.id = ppu.project_permission_id
 WHERE ppu.user_id = @user
UNION
SELECT pp.project_id, pp.permission_id FROM project_permission_groups ppg
  JOIN project_permissions pp ON pp.id = ppg.project_permission_id
 WHERE ppg.group_id = @group OR ppg.group_id IN (SELECT group_id FROM user_groups WHERE user_id = @user)`

// HolderGrants implements authz.HolderGrantStore in one statement.
func (s *Store) HolderGrants(ctx context.Context, h authz.Holder) (authz.HeldGrants, error) {
	var rows []struct{ ProjectID, PermissionID int64 }
	args := map[string]any{"user": h.User, "group": h.Group}
	if err := s.db.WithContext(ctx).Raw(holderGrantsSQL, args).Scan(&rows).Error; err != nil {
		return authz.HeldGrants{}, dbError("load held grants", err)
	}
	out := authz.HeldGrants{Projects: map[int64][]int64{}}
	for _, r := range rows {
		if r.ProjectID == 0 {
			out.Global = append(out.Global, r.PermissionID)
		} else {
			out.Projects[r.ProjectID] = append(out.Projects[r.ProjectID], r.PermissionID)
		}
	}
	return out, nil
}

// Tokens lists a user's API tokens, newest first, without secrets.
func (s *Store) Tokens(ctx context.Context, user int64) ([]Token, error) {
	var rows []APIToken
	if err := s.db.WithContext(ctx).Where("user_id = ?", user).Order("id DESC").Find(&rows).Error; err != nil {
		return nil, dbError(fmt.Sprintf("list tokens of user %d", user), err)
	}
	out := make([]Token, len(rows))
	for i, r := range rows {
		out[i] = r.token()
	}
	return out, nil
}

// TokenByID returns a token, without its secret.
func (s *Store) TokenByID(ctx context.Context, id int64) (Token, error) {
	var r APIToken
	if err := s.takeByID(ctx, "token", &r, id); err != nil {
		return Token{}, err
	}
	return r.token(), nil
}

// token is the row without its hash.
func (r APIToken) token() Token {
	return Token{ID: r.ID, UserID: r.UserID, Name: r.Name, CreatedAt: r.CreatedAt, RevokedAt: r.RevokedAt,
		ExpiresAt: r.ExpiresAt, LastUsedAt: r.LastUsedAt}
}
