package models

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/grantql/grantql/authz"
	"gorm.io/gorm"
)

// This file holds the audit trail of grant changes. Every write method of
// Store that changes grants, memberships, user flags or rules calls
// recordEvent inside its own transaction, so that a change and its event
// commit or roll back together, and only when a row actually changed:
// granting what is held, or revoking what is not, records nothing.

var _ authz.GrantEventStore = (*Store)(nil)

// The states of grant events, as small JSON objects.
type (
	heldState struct {
		Held bool `json:"held"`
	}
	memberState struct {
		Member bool `json:"member"`
	}
	userState struct {
		Username    string `json:"username,omitempty"`
		IsActive    bool   `json:"isActive"`
		IsSuperuser bool   `json:"isSuperuser"`
	}
	nameState struct {
		Name string `json:"name"`
	}
	ruleState struct {
		ID          int64  `json:"id"`
		ObjectType  string `json:"objectType"`
		Expression  string `json:"expression"`
		Description string `json:"description"`
	}
)

// state renders a grant event's before or after; nil renders as "", the
// side of a creation or deletion where the thing does not exist.
func state(v any) string {
	if v == nil {
		return ""
	}
	b, err := json.Marshal(v)
	if err != nil {
		// The states are plain structs of strings, numbers and booleans.
		panic(fmt.Sprintf("encode grant event state %#v: %v", v, err))
	}
	return string(b)
}

// recordEvent inserts e into grant_events in tx, made by the actor of ctx.
func recordEvent(ctx context.Context, tx *gorm.DB, e authz.GrantEvent) error {
	row := GrantEvent{
		ActorID:    ref(authz.ActorFrom(ctx)),
		Action:     e.Action,
		UserID:     ref(e.User),
		GroupID:    ref(e.Group),
		ProjectID:  ref(e.Project),
		Permission: e.Perm,
		Before:     e.Before,
		After:      e.After,
		CreatedAt:  now(),
	}
	if err := tx.Create(&row).Error; err != nil {
		return fmt.Errorf("record %s event: %w", e.Action, err)
	}
	return nil
}

// permKey returns the app_label.codename of the permission with id, by
// primary key: a *authz.NotFoundError when there is none.
func permKey(tx *gorm.DB, id int64) (string, error) {
	keys, err := permKeys(tx, []int64{id})
	if err != nil {
		return "", err
	}
	key, ok := keys[id]
	if !ok {
		return "", &authz.NotFoundError{Kind: "permission", ID: id}
	}
	return key, nil
}

// permKeys returns the app_label.codename of each permission that exists
// among ids, by primary key.
func permKeys(tx *gorm.DB, ids []int64) (map[int64]string, error) {
	var rows []Permission
	if err := tx.Where("id IN ?", ids).Find(&rows).Error; err != nil {
		return nil, fmt.Errorf("look up permissions: %w", err)
	}
	out := make(map[int64]string, len(rows))
	for _, r := range rows {
		out[r.ID] = r.AppLabel + "." + r.Codename
	}
	return out, nil
}

// holderEvent returns an event about a holder: its user or group is set.
func holderEvent(action string, h authz.Holder, perm string, project int64, before, after any) authz.GrantEvent {
	return authz.GrantEvent{Action: action, User: h.User, Group: h.Group, Project: project, Perm: perm,
		Before: state(before), After: state(after)}
}

// filter collects the conditions of a keyset query.
type filter struct {
	where []string
	args  []any
}

func (f *filter) add(cond string, args ...any) {
	f.where = append(f.where, cond)
	f.args = append(f.args, args...)
}

// id adds "column = id", where id 0 selects NULL: "none" (an anonymous
// user, a change made from the command line, a deleted user).
func (f *filter) id(column string, id *int64) {
	switch {
	case id == nil:
	case *id == 0:
		f.add(column + " IS NULL")
	default:
		f.add(column+" = ?", *id)
	}
}

func (f *filter) eq(column string, v any) { f.add(column+" = ?", v) }

// times adds since ≤ column < until, half-open so that consecutive ranges
// neither overlap nor leave gaps.
func (f *filter) times(column string, since, until *time.Time) {
	if since != nil {
		f.add(column+" >= ?", since.UTC())
	}
	if until != nil {
		f.add(column+" < ?", until.UTC())
	}
}

func (f *filter) sql() string {
	if len(f.where) == 0 {
		return "1 = 1"
	}
	return strings.Join(f.where, " AND ")
}

// GrantEvents returns up to limit events matching f, newest first,
// strictly older than the event with id before (0: from the newest). A
// filter id of 0 selects events without one (no actor: the command line).
// Times select since ≤ created_at < until.
//
// Each filter has an index that ends in id (migration 00004): with one
// filter, the query reads its index backwards from the cursor and stops
// after limit rows; with several, the planner picks the most selective
// and checks the others on the rows it reads; with none, it reads the
// primary key backwards.
func (s *Store) GrantEvents(ctx context.Context, f authz.GrantEventFilter, before int64, limit int) ([]authz.GrantEvent, error) {
	if limit <= 0 {
		return []authz.GrantEvent{}, nil
	}
	var q filter
	if before > 0 {
		q.add("id < ?", before)
	}
	q.id("actor_id", f.Actor) // grant_events_actor_id_idx
	if f.Action != nil {
		q.eq("action", *f.Action) // grant_events_action_id_idx
	}
	q.id("user_id", f.User)       // grant_events_user_id_idx
	q.id("group_id", f.Group)     // grant_events_group_id_idx
	q.id("project_id", f.Project) // grant_events_project_id_idx
	if f.Perm != nil {
		q.eq("permission", *f.Perm) // grant_events_permission_id_idx
	}
	q.times("created_at", f.Since, f.Until) // grant_events_created_idx
	var rows []GrantEvent
	err := s.db.WithContext(ctx).Where(q.sql(), q.args...).Order("id DESC").Limit(limit).Find(&rows).Error
	if err != nil {
		return nil, dbError("list grant events", err)
	}
	out := make([]authz.GrantEvent, len(rows))
	for i, r := range rows {
		out[i] = authz.GrantEvent{
			ID: r.ID, Actor: deref(r.ActorID), Action: r.Action,
			User: deref(r.UserID), Group: deref(r.GroupID), Project: deref(r.ProjectID),
			Perm: r.Permission, Before: r.Before, After: r.After, CreatedAt: r.CreatedAt,
		}
	}
	return out, nil
}
