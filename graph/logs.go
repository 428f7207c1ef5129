package graph

import (
	"context"
	"encoding/json"
	"errors"
	"strconv"

	"github.com/grantql/grantql/authz"
	"github.com/grantql/grantql/graph/model"
	"github.com/grantql/grantql/models"
)

// logID is a decision log's public id: its uid, or its row id for logs
// stored before uids existed.
func logID(l authz.DecisionLog) string {
	if l.UID != "" {
		return l.UID
	}
	return strconv.FormatInt(l.ID, 10)
}

func decisionLogModel(l authz.DecisionLog) *model.DecisionLog {
	m := &model.DecisionLog{ID: logID(l), Name: l.Name, Permission: l.Perm, Allowed: l.Allowed,
		Reason: model.DecisionReason(l.Reason), Source: l.Source, RequestID: l.RequestID, Backend: l.Backend,
		CreatedAt: l.CreatedAt, UserID: l.User, ProjectID: l.Project, Entries: make([]*model.LogEntry, len(l.Entries))}
	if l.ObjectType != "" {
		t, id := l.ObjectType, l.ObjectID
		m.ObjectType, m.ObjectID = &t, &id
	}
	for i, e := range l.Entries {
		tags := e.Tags
		if tags == nil {
			tags = []string{}
		}
		m.Entries[i] = &model.LogEntry{Text: e.Text, Tags: tags}
	}
	return m
}

func optionalString(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}

func optionalIDString(id int64) *string {
	if id == 0 {
		return nil
	}
	s := formatID(id)
	return &s
}

func grantEventModel(e authz.GrantEvent) *model.GrantEvent {
	return &model.GrantEvent{ID: formatID(e.ID), Action: e.Action, UserID: optionalIDString(e.User),
		GroupID: optionalIDString(e.Group), ProjectID: optionalIDString(e.Project),
		Permission: optionalString(e.Perm), Before: optionalString(e.Before), After: optionalString(e.After),
		CreatedAt: e.CreatedAt, ActorID: e.Actor}
}

func ruleModel(r authz.StoredRule) *model.Rule {
	return &model.Rule{ID: formatID(r.ID), Permission: r.Perm, ObjectType: r.ObjectType,
		Expression: r.Expression, Description: r.Description, CreatedAt: r.CreatedAt}
}

// decisionLogFilter turns the GraphQL filter into the store's, and applies
// the reading rule: without authz.view_decisionlog, a viewer reads the logs
// of their own checks only.
func (r *Resolver) decisionLogFilter(ctx context.Context, in *model.DecisionLogFilter) (authz.DecisionLogFilter, error) {
	viewer, err := requireSignedIn(ctx, "read decision logs")
	if err != nil {
		return authz.DecisionLogFilter{}, err
	}
	var f authz.DecisionLogFilter
	if in != nil {
		if f.User, err = optionalIDPtr("filter.user", in.User); err != nil {
			return f, err
		}
		if f.Project, err = optionalIDPtr("filter.project", in.Project); err != nil {
			return f, err
		}
		f.Perm, f.ObjectType, f.ObjectID, f.Name, f.Tag = in.Permission, in.ObjectType, in.ObjectID, in.Name, in.Tag
		f.Allowed, f.Since, f.Until = in.Allowed, in.Since, in.Until
		if in.Reason != nil {
			reason := authz.Reason(*in.Reason)
			f.Reason = &reason
		}
	}
	if f.User != nil && *f.User == viewer {
		return f, nil
	}
	d, err := r.Engine.HasPerm(ctx, viewer, authz.PermViewDecisionLog)
	if err != nil {
		return f, err
	}
	if !d.Allowed {
		if f.User != nil {
			return f, &authz.DeniedError{Perm: authz.PermViewDecisionLog, Reason: d.Reason}
		}
		f.User = &viewer // their own checks only
	}
	return f, nil
}

// optionalIDPtr parses an optional ID argument into a pointer.
func optionalIDPtr(arg string, id *string) (*int64, error) {
	if id == nil {
		return nil, nil
	}
	n, err := parseID(arg, *id)
	if err != nil {
		return nil, err
	}
	return &n, nil
}

// pageProject finds the project of the page named by a mutation's id
// argument, for @hasProjectPerm on page mutations.
func pageProject(store *models.Store) func(ctx context.Context, args map[string]any) (int64, error) {
	return func(ctx context.Context, args map[string]any) (int64, error) {
		s, _ := args["id"].(string)
		id, err := parseID("id", s)
		if err != nil {
			return 0, err
		}
		p, err := store.Page(ctx, id)
		if err != nil {
			return 0, err
		}
		return p.ProjectID, nil
	}
}

// requirePageRule makes the object-level check of a page mutation: the
// directive has checked perm in the page's project; the page's rules (a
// published page also needs projects.publish_page) decide the rest.
func (r *Resolver) requirePageRule(ctx context.Context, perm string, page authz.Page) error {
	return r.Engine.RequireObject(ctx, viewerID(ctx), perm, page.ProjectID, authz.PageObject(page))
}

// checkRequest turns a CheckInput about subject into an engine request.
// For a Page object the stored page is the object: its attributes come
// from the database, and its project is the page's. For an anonymous
// subject nothing is read: the answer is deny (ANONYMOUS) whatever exists,
// so the page is not loaded, and whether it exists, or where, stays
// unsaid.
func (r *Resolver) checkRequest(ctx context.Context, subject int64, in *model.CheckInput) (authz.CheckRequest, error) {
	pid, err := optionalID("project", in.Project)
	if err != nil {
		return authz.CheckRequest{}, err
	}
	req := authz.CheckRequest{Perm: in.Perm, Project: pid}
	if in.Object == nil {
		return req, nil
	}
	if in.Object.Type != authz.PageObjectType {
		req.Object = &authz.Object{Type: in.Object.Type, ID: in.Object.ID, Attributes: jsonNumbers(in.Object.Attributes).(map[string]any)}
		return req, nil
	}
	id, err := parseID("object.id", in.Object.ID)
	if err != nil {
		return authz.CheckRequest{}, err
	}
	if subject == authz.Anonymous {
		req.Object = &authz.Object{Type: authz.PageObjectType, ID: formatID(id)}
		return req, nil
	}
	page, err := r.Store.Page(ctx, id)
	if err != nil {
		return authz.CheckRequest{}, err
	}
	if pid != 0 && pid != page.ProjectID {
		// Not the page's project, which the caller may not see: the
		// message names only what the caller sent.
		return authz.CheckRequest{}, authz.InvalidInput("project: page %d is not in project %d", page.ID, pid)
	}
	req.Project, req.Object = page.ProjectID, authz.PageObject(page)
	return req, nil
}

// jsonNumbers replaces the json.Number values in v, a JSON value, with
// int64 (for an integer that fits) or float64. gqlgen decodes request
// variables with UseNumber, and a rule comparing object.attributes.amount
// with a number must see a number, as it does when the attributes are
// written in the query itself.
func jsonNumbers(v any) any {
	switch v := v.(type) {
	case json.Number:
		if n, err := v.Int64(); err == nil {
			return n
		}
		if f, err := v.Float64(); err == nil {
			return f
		}
		return v.String()
	case map[string]any:
		if v == nil {
			return v
		}
		out := make(map[string]any, len(v))
		for k, e := range v {
			out[k] = jsonNumbers(e)
		}
		return out
	case []any:
		out := make([]any, len(v))
		for i, e := range v {
			out[i] = jsonNumbers(e)
		}
		return out
	}
	return v
}

// optionalUser loads the user with id for a field that may name none (0)
// or a user deleted since (null rather than an error: the record stays).
func (r *Resolver) optionalUser(ctx context.Context, id int64) (*model.User, error) {
	if id == 0 {
		return nil, nil
	}
	u, err := r.Store.User(ctx, id)
	if errors.Is(err, authz.ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	return userModel(u), nil
}
