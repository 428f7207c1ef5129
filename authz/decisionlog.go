package authz

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"strconv"
	"time"
)

// Decision logs (docs/model.md, Decision logs). A log is a list of lines; at verbosity 2 it
// starts with a header:
//
//	Permission: projects.delete_page          [auto]
//	User: alice (54)                          [auto]
//	Object: Page 17 (17)                      [auto]   (only with an object)
//	                                          [auto]   (a blank line)
//
// and at verbosity 1 and 2 its body is:
//
//	Model-level Result: Granted               [auto]   (or Denied)
//	<the lines the rule wrote>                [the rule's tags, none by default]
//	RESULT: Permission Granted                [auto]   (or Denied)
//
// A rule line is there only when a rule ran. When a rule checks another
// permission (RuleContext.Check, hasPerm() in CEL), the body of that nested
// check's log is pulled in where the rule made the check, each line
// indented by nestedIndent and keeping its tags. When a rule fails to
// evaluate, the engine writes "Rule error: <why>", tagged auto, before the
// result.
//
// With a LogSink (WithLogSink), every decision of HasPerm, HasProjectPerm,
// CheckMany, CheckObject, CheckManyObjects and the Require methods built on
// them is enqueued, once per distinct decision per request. A nested check
// is not enqueued on its own: its lines are in the outer log. The listing
// of ProjectPermissions leaves no logs, and neither does a check of an
// anonymous user: its answer (deny, ANONYMOUS) is fixed before anything is
// read, and a caller without credentials must not be able to make the
// service write.

// The verbosity levels of decision logs.
const (
	// VerbosityNone keeps no logs.
	VerbosityNone = 0
	// VerbosityResult keeps the automatic lines of the body: the
	// project-level result, the rule's lines and the final result.
	VerbosityResult = 1
	// VerbosityHeader adds the header: permission, user, object, blank line.
	VerbosityHeader = 2
	// DefaultVerbosity is the verbosity of an engine built without
	// WithVerbosity.
	DefaultVerbosity = VerbosityResult
)

// TagAuto is the tag of the lines the engine writes itself.
const TagAuto = "auto"

// nestedIndent prefixes the lines of a nested check pulled into an outer
// log, so that its own RESULT line does not read as the outer one's.
const nestedIndent = "  "

// autoTags is the tag list of every automatic line. Its capacity is its
// length, so that appending to one line's tags never changes another's.
var autoTags = []string{TagAuto}[:1:1]

// The texts of the automatic lines.
const (
	lineModelGranted = "Model-level Result: Granted"
	lineModelDenied  = "Model-level Result: Denied"
	lineGranted      = "RESULT: Permission Granted"
	lineDenied       = "RESULT: Permission Denied"
	lineRuleError    = "Rule error: "
)

// autoLine returns an automatic line.
func autoLine(text string) LogEntry { return LogEntry{Text: text, Tags: autoTags} }

// modelLine returns the body's first line, the project-level result.
func modelLine(allowed bool) LogEntry {
	if allowed {
		return autoLine(lineModelGranted)
	}
	return autoLine(lineModelDenied)
}

// resultLine returns the body's last line, the final result.
func resultLine(allowed bool) LogEntry {
	if allowed {
		return autoLine(lineGranted)
	}
	return autoLine(lineDenied)
}

// projectLevelBody is the body of a check that no rule decided: the
// project-level result is the result.
func projectLevelBody(d Decision) []LogEntry {
	return []LogEntry{modelLine(d.Allowed), resultLine(d.Allowed)}
}

// LogName returns the name of the automatic log of a check: auto-<perm>
// without an object, auto-<perm>-<object id> with one.
func LogName(perm string, obj *Object) string {
	if obj == nil {
		return "auto-" + perm
	}
	return "auto-" + perm + "-" + obj.ID
}

// logHeader returns the verbosity-2 header.
func logHeader(perm string, user int64, username string, obj *Object) []LogEntry {
	h := make([]LogEntry, 0, 4)
	h = append(h, autoLine("Permission: "+perm))
	h = append(h, autoLine("User: "+username+" ("+strconv.FormatInt(user, 10)+")"))
	if obj != nil {
		h = append(h, autoLine("Object: "+obj.describe()+" ("+obj.ID+")"))
	}
	return append(h, autoLine(""))
}

// logKey identifies a decision for the once-per-request log: the same
// question with the same answer is logged once, and an answer that a write
// changed later in the request is logged again.
type logKey struct {
	user, project        int64
	perm                 string
	objectType, objectID string
	allowed              bool
	reason               Reason
}

// newLog assembles the log of one decision from its body.
func (e *Engine) newLog(ctx context.Context, user int64, username string, req CheckRequest, d Decision, body []LogEntry) *DecisionLog {
	// In UTC to the microsecond, as the log is stored, so that
	// Decision.log and the stored log agree.
	now := time.Now().UTC().Truncate(time.Microsecond)
	l := &DecisionLog{
		UID:       newLogUID(now),
		Name:      LogName(d.Perm, req.Object),
		Perm:      d.Perm,
		Allowed:   d.Allowed,
		Reason:    d.Reason,
		User:      user,
		Project:   req.Project,
		Source:    LogSourceFrom(ctx),
		RequestID: RequestIDFrom(ctx),
		Backend:   d.Backend,
		CreatedAt: now,
	}
	if req.Object != nil {
		l.ObjectType, l.ObjectID = req.Object.Type, req.Object.ID
	}
	if e.verbosity >= VerbosityHeader {
		l.Entries = append(logHeader(d.Perm, user, username, req.Object), body...)
	} else {
		// A copy, so that the cached body never shares an array with a log
		// a caller holds.
		l.Entries = append(make([]LogEntry, 0, len(body)), body...)
	}
	return l
}

// enqueue hands logs to the engine's sink, skipping those the request has
// enqueued already: a repeated decision's log becomes the one enqueued for
// it, so that Decision.log of a repeat has the id of the stored log. The
// new logs take their tokens from the caller's bucket first (lograte.go):
// when there are too few, none is enqueued and the check fails with a
// *LogRateError. Enqueue may block (back-pressure); a log it refuses fails
// the check, closed, with an ErrUnavailable error.
func (e *Engine) enqueue(ctx context.Context, logs []*DecisionLog) error {
	cache := RequestCacheFrom(ctx)
	type fresh struct {
		k logKey
		l *DecisionLog
	}
	todo := make([]fresh, 0, len(logs))
	for _, l := range logs {
		k := logKey{user: l.User, project: l.Project, perm: l.Perm, objectType: l.ObjectType,
			objectID: l.ObjectID, allowed: l.Allowed, reason: l.Reason}
		if cache != nil {
			if first, isNew := cache.markLogged(k, *l); !isNew {
				*l = first
				continue
			}
		}
		todo = append(todo, fresh{k, l})
	}
	unmark := func(rest []fresh) {
		if cache != nil {
			for _, f := range rest {
				cache.unmarkLogged(f.k)
			}
		}
	}
	if caller := ActorFrom(ctx); e.logRate != nil && caller != Anonymous {
		if err := e.logRate.take(caller, len(todo)); err != nil {
			unmark(todo)
			return err
		}
	}
	for i, f := range todo {
		if err := interruptedAt(ctx, i); err != nil {
			unmark(todo[i:])
			return err
		}
		// The sink's copy shares Entries with the log the caller gets:
		// both treat them as read-only.
		if err := e.sink.Enqueue(ctx, *f.l); err != nil {
			unmark(todo[i:])
			return &UnavailableError{Err: fmt.Errorf("enqueue decision log %s: %w", f.l.Name, err)}
		}
	}
	return nil
}

type logSourceKey struct{}

// WithLogSource returns a context whose checks record source (the GraphQL
// field or query that made them) in their decision logs.
func WithLogSource(ctx context.Context, source string) context.Context {
	return context.WithValue(ctx, logSourceKey{}, source)
}

// LogSourceFrom returns the log source of a context, "" when none was set.
func LogSourceFrom(ctx context.Context) string {
	s, _ := ctx.Value(logSourceKey{}).(string)
	return s
}

type requestIDKey struct{}

// WithRequestID returns a context whose checks record id as their request
// id in their decision logs.
func WithRequestID(ctx context.Context, id string) context.Context {
	return context.WithValue(ctx, requestIDKey{}, id)
}

// RequestIDFrom returns the request id of a context, "" when none was set.
func RequestIDFrom(ctx context.Context) string {
	s, _ := ctx.Value(requestIDKey{}).(string)
	return s
}

// newLogUID returns 32 hex digits: the log's time t in Unix milliseconds
// (48 bits), then 80 random bits. It is unique without asking the database,
// so that a log has its id before it is stored, and unguessable; the time
// first makes uids grow with the logs, so the store adds each to the end
// of its unique index (decision_logs_uid_idx) instead of at a random place
// in it: with millions of logs an index of random keys no longer fits in
// PostgreSQL's buffers, and BenchmarkWriteDecisionLogs stored 19,888 logs
// a second with random uids against 27,422 with growing ones, at 2.5
// million logs. The uid tells no more than the log's createdAt.
func newLogUID(t time.Time) string {
	var b [16]byte
	ms := uint64(t.UnixMilli())
	for i := range 6 {
		b[i] = byte(ms >> (40 - 8*i))
	}
	rand.Read(b[6:]) // crypto/rand.Read never fails (it panics instead)
	return hex.EncodeToString(b[:])
}
