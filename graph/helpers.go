package graph

import (
	"context"
	"encoding/base64"
	"strconv"
	"strings"

	"github.com/grantql/grantql/authz"
	"github.com/grantql/grantql/graph/model"
	"github.com/grantql/grantql/models"
)

// cursorPrefix marks the cursors this API gives out, so that a string that
// merely decodes is not taken for one.
const cursorPrefix = "id:"

func encodeCursor(id int64) string {
	return base64.RawURLEncoding.EncodeToString([]byte(cursorPrefix + strconv.FormatInt(id, 10)))
}

// pageRequest validates first and after and turns them into an engine
// page request.
func pageRequest(first *int, after *string) (authz.PageRequest, error) {
	req := authz.PageRequest{First: authz.DefaultPageSize}
	if first != nil {
		req.First = *first
	}
	if after != nil && *after != "" {
		raw, err := base64.RawURLEncoding.DecodeString(*after)
		s, ok := strings.CutPrefix(string(raw), cursorPrefix)
		id, perr := strconv.ParseInt(s, 10, 64)
		if err != nil || !ok || perr != nil || id < 0 {
			return req, authz.InvalidInput("after: %q is not a cursor this API gave out", *after)
		}
		req.After = id
	}
	return req, req.Validate()
}

func pageInfo(hasNext bool, lastID int64, n int) *model.PageInfo {
	pi := &model.PageInfo{HasNextPage: hasNext}
	if n > 0 {
		c := encodeCursor(lastID)
		pi.EndCursor = &c
	}
	return pi
}

// trimPage cuts a page fetched with one extra row down to size, saying
// whether there was more.
func trimPage[T any](rows []T, first int) ([]T, bool) {
	if len(rows) > first {
		return rows[:first], true
	}
	return rows, false
}

// optionalID parses an optional ID argument: 0 when it is absent.
func optionalID(arg string, id *string) (int64, error) {
	if id == nil {
		return 0, nil
	}
	return parseID(arg, *id)
}

// subject resolves the user a question is about: the viewer when the
// argument is absent; another user needs auth.view_user.
func (r *Resolver) subject(ctx context.Context, user *string) (int64, error) {
	viewer := viewerID(ctx)
	if user == nil {
		return viewer, nil
	}
	id, err := parseID("user", *user)
	if err != nil {
		return 0, err
	}
	if id != viewer {
		if err := r.Engine.Require(ctx, viewer, authz.PermViewUser); err != nil {
			return 0, err
		}
	}
	return id, nil
}

// holder parses the user and group arguments of a grant: exactly one.
func holder(user, group *string) (authz.Holder, error) {
	u, err := optionalID("user", user)
	if err != nil {
		return authz.Holder{}, err
	}
	g, err := optionalID("group", group)
	if err != nil {
		return authz.Holder{}, err
	}
	h := authz.Holder{User: u, Group: g}
	return h, h.Validate()
}

// requireSignedIn returns the viewer's id, or an UNAUTHENTICATED error.
func requireSignedIn(ctx context.Context, what string) (int64, error) {
	id := viewerID(ctx)
	if id == authz.Anonymous {
		return 0, authz.Unauthenticated(what)
	}
	return id, nil
}

func projectModel(p authz.Project) *model.Project {
	return &model.Project{ID: formatID(p.ID), Name: p.Name, CreatedAt: p.CreatedAt, DBID: p.ID}
}

func pageModel(p authz.Page) *model.Page {
	title, body, created, published := p.Title, p.Body, p.CreatedAt, p.Published
	return &model.Page{ID: formatID(p.ID), Title: &title, Body: &body, CreatedAt: &created, Published: &published,
		DBID: p.ID, ProjectID: p.ProjectID, AuthorID: p.AuthorID}
}

func decisionModel(d authz.Decision) *model.Decision {
	return &model.Decision{Allowed: d.Allowed, Permission: d.Perm, Reason: model.DecisionReason(d.Reason)}
}

func tokenModel(t models.Token) *model.APIToken {
	return &model.APIToken{ID: formatID(t.ID), Name: t.Name, CreatedAt: t.CreatedAt, RevokedAt: t.RevokedAt,
		ExpiresAt: t.ExpiresAt, LastUsedAt: t.LastUsedAt, UserID: t.UserID}
}

func projectConnection(page authz.ProjectPage, count model.Counter) *model.ProjectConnection {
	c := &model.ProjectConnection{Edges: make([]*model.ProjectEdge, len(page.Projects)), Count: count}
	var last int64
	for i, p := range page.Projects {
		c.Edges[i] = &model.ProjectEdge{Cursor: encodeCursor(p.ID), Node: projectModel(p)}
		last = p.ID
	}
	c.PageInfo = pageInfo(page.HasNextPage, last, len(page.Projects))
	return c
}

func pageConnection(rows []authz.Page, hasNext bool, count model.Counter) *model.PageConnection {
	c := &model.PageConnection{Edges: make([]*model.PageEdge, len(rows)), Count: count}
	var last int64
	for i, p := range rows {
		c.Edges[i] = &model.PageEdge{Cursor: encodeCursor(p.ID), Node: pageModel(p)}
		last = p.ID
	}
	c.PageInfo = pageInfo(hasNext, last, len(rows))
	return c
}

// withConsistency returns ctx with the consistency a check asked for:
// FULL bypasses the shared cache.
func withConsistency(ctx context.Context, c *model.Consistency) context.Context {
	if c != nil && *c == model.ConsistencyFull {
		return authz.WithConsistency(ctx, authz.Full)
	}
	return ctx
}
