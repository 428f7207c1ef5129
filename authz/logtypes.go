package authz

import (
	"context"
	"time"
)

// LogEntry is one line of a decision log. Automatic lines carry the tag
// "auto"; lines a rule writes carry the tags the rule gives, if any.
type LogEntry struct {
	Text string
	Tags []string
}

// DecisionLog is the record of one decision (docs/model.md, Decision logs).
type DecisionLog struct {
	ID int64 // set when stored
	// UID is the log's public id, random, given when the check makes the
	// log: the log a check returns is stored later, in the background.
	UID        string
	Name       string
	Perm       string
	Allowed    bool
	Reason     Reason
	User       int64 // 0: anonymous
	Project    int64 // 0: none
	ObjectType string
	ObjectID   string
	Entries    []LogEntry
	Source     string // the GraphQL field or query that made the check
	RequestID  string
	Backend    string
	CreatedAt  time.Time
}

// DecisionLogFilter selects decision logs; nil fields select everything.
// A User or Project of 0 selects the logs without one (anonymous checks,
// global checks, or users and projects deleted since); an ObjectType or
// ObjectID of "" selects the logs without an object. Since and Until select
// Since ≤ CreatedAt < Until. Tag selects the logs with an entry so tagged.
type DecisionLogFilter struct {
	User       *int64
	Perm       *string
	Project    *int64
	ObjectType *string
	ObjectID   *string
	Allowed    *bool
	Reason     *Reason
	Name       *string
	Tag        *string
	Since      *time.Time
	Until      *time.Time
}

// LogSink receives decision logs off the check's critical path. Enqueue
// may block while its queue is full (back-pressure) and never drops a log
// (LogWriter's sampling of allowed logs, when switched on, is the one
// deliberate exception).
type LogSink interface {
	Enqueue(ctx context.Context, log DecisionLog) error
}

// DecisionLogStore persists and reads decision logs.
type DecisionLogStore interface {
	// WriteDecisionLogs stores a batch in one transaction.
	WriteDecisionLogs(ctx context.Context, logs []DecisionLog) error
	// DecisionLogs returns up to limit logs matching f, newest first,
	// strictly older than the log with id before (0: from the newest).
	DecisionLogs(ctx context.Context, f DecisionLogFilter, before int64, limit int) ([]DecisionLog, error)
	// DecisionLogByID returns one log: a *NotFoundError when there is none.
	DecisionLogByID(ctx context.Context, id int64) (DecisionLog, error)
	// DecisionLogByUID returns one log by its public id: an ErrNotFound
	// error when there is none (or it is not stored yet).
	DecisionLogByUID(ctx context.Context, uid string) (DecisionLog, error)
	// PurgeDecisionLogs removes the logs of the days (UTC) that end at or
	// before t, and returns how many: logs go by whole days, none created
	// at or after t.
	PurgeDecisionLogs(ctx context.Context, t time.Time) (int64, error)
}

// GrantEvent is the audit record of one change to grants, memberships,
// user flags or rules: who did what, when, and the state before and after.
type GrantEvent struct {
	ID        int64
	Actor     int64  // 0: a command-line or internal change
	Action    string // e.g. "grant_project_perm", "remove_user_from_group"
	User      int64  // the user the change is about, 0 if none
	Group     int64  // the group the change is about, 0 if none
	Project   int64  // the project the change is about, 0 if none
	Perm      string // the permission the change is about, "" if none
	Before    string // JSON of the state before, "" if none
	After     string // JSON of the state after, "" if none
	CreatedAt time.Time
}

// GrantEventFilter selects grant events; nil fields select everything.
// An id of 0 selects the events without one (Actor 0: changes made from
// the command line). Since and Until select Since ≤ CreatedAt < Until.
type GrantEventFilter struct {
	Actor   *int64
	Action  *string
	User    *int64
	Group   *int64
	Project *int64
	Perm    *string
	Since   *time.Time
	Until   *time.Time
}

// GrantEventStore reads the audit trail; events are written by the store's
// write methods, in the same transaction as the change they record, with
// the actor taken from the context (WithActor).
type GrantEventStore interface {
	GrantEvents(ctx context.Context, f GrantEventFilter, before int64, limit int) ([]GrantEvent, error)
}

type actorKey struct{}

// WithActor returns a context whose writes are recorded as made by actor.
func WithActor(ctx context.Context, actor int64) context.Context {
	return context.WithValue(ctx, actorKey{}, actor)
}

// ActorFrom returns the actor of a context's writes, 0 when none was set.
func ActorFrom(ctx context.Context) int64 {
	a, _ := ctx.Value(actorKey{}).(int64)
	return a
}

// StoredRule is a declarative object-level rule kept in the database: a
// CEL expression deciding Perm for objects of ObjectType.
type StoredRule struct {
	ID          int64
	Perm        string
	ObjectType  string
	Expression  string
	Description string
	CreatedAt   time.Time
}

// RuleStore keeps declarative rules. At most one rule exists per
// (permission, object type): a second is a conflict.
type RuleStore interface {
	Rules(ctx context.Context) ([]StoredRule, error)
	CreateRule(ctx context.Context, r StoredRule) (StoredRule, error)
	DeleteRule(ctx context.Context, id int64) (bool, error)
}
