package authz

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"time"
)

// Decision is the answer to a check, with the step that decided it.
type Decision struct {
	Allowed bool
	Perm    string
	Project int64 // 0 for a global check
	Reason  Reason
	// Backend names the backend that allowed or vetoed; empty when the
	// engine decided before the chain (anonymous, inactive, superuser) or
	// every backend abstained. When an object rule decided, it is the
	// backend whose project-level allow the rule confirmed or overruled.
	Backend string
	// Missing names, for a deny by an object rule (DENIED_BY_RULE), the
	// permission the rule checked (RuleContext.Check) and found the user
	// lacks, such as projects.publish_page for a change to a published
	// page: what the user would need. When that permission was itself
	// denied by its own rule for another, Missing is the other. Empty for
	// every other decision, and for a rule that denied without such a
	// check.
	Missing string
}

// Anonymous is the user id of a caller without credentials.
const Anonymous int64 = 0

// Engine makes decisions and changes grants. It is safe for concurrent use.
type Engine struct {
	store    Store
	registry *Registry
	backends []Backend

	// rules holds the object-level rules, Go and stored (olp.go, rules.go).
	rules *ruleSet
	// universalOLP makes rules run for superusers too (docs/model.md, Object-level rules).
	universalOLP bool
	// noPageRules leaves out the built-in Page rules.
	noPageRules bool
	// verbosity is the decision-log verbosity, 0 to 2 (docs/model.md, Decision logs).
	verbosity int
	// sink receives every decision's log, once per request; nil: none.
	sink LogSink
	// logRate bounds each caller's logs (lograte.go); nil: unbounded.
	logRate *logLimiter
	// cache keeps grants across requests; nil: none (sharedcache.go).
	cache *SharedCache
	// observer is told of every decision; nil: none (observer.go).
	observer Observer
	// ruleSteps and ruleRequestTime bound the CEL steps and the time of
	// one request's rules, ruleTimeout one evaluation's time (bounds.go).
	ruleSteps       uint64
	ruleTimeout     time.Duration
	ruleRequestTime time.Duration
}

// Option configures an Engine.
type Option func(*Engine)

// WithBackends sets the decision chain, in order. The default chain is the
// built-in backend alone; include BuiltinBackend() to keep the grants of docs/model.md.
func WithBackends(backends ...Backend) Option {
	return func(e *Engine) { e.backends = backends }
}

// WithUniversalOLP switches universal OLP on or off (off by default): when
// on, object rules run for active superusers too, and may deny them.
func WithUniversalOLP(on bool) Option {
	return func(e *Engine) { e.universalOLP = on }
}

// WithVerbosity sets the decision-log verbosity (DefaultVerbosity, 1, by
// default): 0 keeps no logs, 1 keeps the automatic lines, 2 adds a header.
// Values below 0 count as 0 and above 2 as 2.
func WithVerbosity(v int) Option {
	return func(e *Engine) { e.verbosity = min(max(v, VerbosityNone), VerbosityHeader) }
}

// WithLogSink makes the engine hand every decision's log to sink, once per
// distinct decision per request (per check without a request cache). At
// verbosity 0 nothing is logged.
func WithLogSink(sink LogSink) Option {
	return func(e *Engine) { e.sink = sink }
}

// WithRuleStore gives the engine a store of declarative (CEL) rules. The
// engine reads them when an object check first needs a rule, again after
// every CreateRule and DeleteRule it makes, and at most every
// ruleReloadInterval otherwise, to see rules changed by other instances.
func WithRuleStore(rs RuleStore) Option {
	return func(e *Engine) { e.rules.store = rs }
}

// WithoutPageRules leaves out the built-in Page rules that NewEngine
// registers otherwise (RegisterPageRules).
func WithoutPageRules() Option {
	return func(e *Engine) { e.noPageRules = true }
}

// NewEngine returns an engine over store. Unless WithoutPageRules is
// given, it registers the built-in Page rules (RegisterPageRules).
func NewEngine(store Store, opts ...Option) *Engine {
	e := &Engine{store: store, registry: NewRegistry(store), backends: []Backend{BuiltinBackend()},
		rules: newRuleSet(), verbosity: DefaultVerbosity, ruleSteps: DefaultRuleSteps, ruleTimeout: DefaultRuleTimeout, ruleRequestTime: DefaultRuleRequestTime}
	for _, o := range opts {
		o(e)
	}
	if !e.noPageRules {
		// A fresh engine has no rules to collide with, so this cannot fail.
		if err := RegisterPageRules(e); err != nil {
			panic(err)
		}
	}
	return e
}

// Verbosity returns the engine's decision-log verbosity.
func (e *Engine) Verbosity() int { return e.verbosity }

// Registry returns the engine's permission registry.
func (e *Engine) Registry() *Registry { return e.registry }

// CheckRequest is one question of CheckMany: Perm in Project, or globally
// when Project is 0; on Object too when it is not nil (docs/model.md, Object-level rules).
type CheckRequest struct {
	Perm    string
	Project int64
	Object  *Object
}

// HasPerm decides whether user holds perm globally (steps 1–3 of docs/model.md, The decision,
// Django's has_perm without an object).
func (e *Engine) HasPerm(ctx context.Context, user int64, perm string) (Decision, error) {
	ds, err := e.CheckMany(ctx, user, []CheckRequest{{Perm: perm}})
	if err != nil {
		return Decision{Perm: perm, Reason: reasonForError(err)}, err
	}
	return ds[0], nil
}

// HasProjectPerm decides whether user holds perm in project (docs/model.md, The decision).
func (e *Engine) HasProjectPerm(ctx context.Context, user int64, perm string, project int64) (Decision, error) {
	if project <= 0 {
		return Decision{Perm: perm, Project: project, Reason: ReasonNoGrant}, &NotFoundError{Kind: "project", ID: project}
	}
	ds, err := e.CheckMany(ctx, user, []CheckRequest{{Perm: perm, Project: project}})
	if err != nil {
		return Decision{Perm: perm, Project: project, Reason: reasonForError(err)}, err
	}
	return ds[0], nil
}

// CheckMany answers several checks for one user with at most one statement,
// whatever the number of projects; requests with an object may cost one
// more, whatever their number (CheckManyObjects). A malformed or unknown
// permission, an invalid object, or a project or user that does not exist,
// fails the whole batch with an error that names the offending request's
// index.
func (e *Engine) CheckMany(ctx context.Context, user int64, reqs []CheckRequest) ([]Decision, error) {
	ds, _, err := e.check(ctx, user, reqs, false)
	return ds, err
}

// ProjectPermissions returns, sorted, every permission for which
// HasProjectPerm(user, perm, project) allows.
func (e *Engine) ProjectPermissions(ctx context.Context, user int64, project int64) ([]string, error) {
	if project <= 0 {
		return nil, &NotFoundError{Kind: "project", ID: project}
	}
	all, err := e.registry.All(ctx)
	if err != nil {
		return nil, err
	}
	if user == Anonymous {
		return []string{}, nil
	}
	ug, err := e.grants(ctx, user, []int64{project})
	if err != nil {
		return nil, err
	}
	if !ug.found {
		return nil, &NotFoundError{Kind: "user", ID: user}
	}
	if ug.projects[project] == nil {
		return nil, &NotFoundError{Kind: "project", ID: project}
	}
	out := []string{}
	for i, p := range all {
		if err := interruptedAt(ctx, i); err != nil {
			return nil, err
		}
		d, err := e.decide(ctx, user, ug, p, project)
		if err != nil {
			return nil, err
		}
		if d.Allowed {
			out = append(out, p.Key())
		}
	}
	sort.Strings(out)
	return out, nil
}

// decide runs the decision of docs/model.md on loaded grants: inactive users hold nothing, active
// superusers hold everything, and the backend chain decides the rest.
func (e *Engine) decide(ctx context.Context, user int64, ug *userGrants, perm Permission, project int64) (Decision, error) {
	d := Decision{Perm: perm.Key(), Project: project}
	switch {
	case !ug.isActive:
		d.Reason = ReasonInactive
		return d, nil
	case ug.isSuperuser:
		d.Allowed, d.Reason = true, ReasonSuperuser
		return d, nil
	}
	q := Query{User: user, Perm: perm, Project: project, Held: ug.global[perm.ID]}
	if project > 0 {
		q.Held |= ug.projects[project][perm.ID]
	}
	for _, b := range e.backends {
		v, err := b.Check(ctx, q)
		if err != nil {
			return Decision{Perm: d.Perm, Project: project, Reason: ReasonVetoed, Backend: b.Name()},
				fmt.Errorf("backend %s: %w", b.Name(), err)
		}
		switch v.Effect {
		case Allow:
			d.Allowed, d.Reason, d.Backend = true, v.Reason, b.Name()
			if d.Reason == "" {
				d.Reason = ReasonObjectRule
			}
			return d, nil
		case Veto:
			d.Reason, d.Backend = ReasonVetoed, b.Name()
			return d, nil
		}
	}
	d.Reason = ReasonNoGrant
	return d, nil
}

// grants returns the user's grants covering projects, from the request
// cache when it has them and with one statement otherwise. A check of
// full consistency always reads the database (the request cache may hold
// grants read when the request was authenticated) and leaves what it read
// to the request cache. A load of the grants of the user whose token ctx
// names (WithViewerToken) confirms the token in the same statement.
func (e *Engine) grants(ctx context.Context, user int64, projects []int64) (*userGrants, error) {
	if err := tokenExpired(ctx); err != nil {
		return nil, err
	}
	cache := RequestCacheFrom(ctx)
	var gen uint64
	missing := projects
	switch {
	case cache != nil && consistencyFrom(ctx) == Full:
		gen = cache.currentGeneration()
	case cache != nil:
		var ug *userGrants
		ug, missing, gen = cache.lookup(user, projects)
		if ug != nil {
			return ug, nil
		}
	}
	g, err := e.cache.loadGrants(ctx, e.store, user, missing)
	if err != nil {
		return nil, err
	}
	if cache == nil {
		return grantsView(g, missing), nil
	}
	ug := cache.store(user, g, missing, gen)
	for _, p := range projects {
		if _, ok := ug.projects[p]; !ok {
			// A write emptied the cache while this load ran, taking with
			// it the projects the load skipped as cached: load them all
			// again, and leave the cache to the next check.
			g, err := e.cache.loadGrants(ctx, e.store, user, projects)
			if err != nil {
				return nil, err
			}
			return grantsView(g, projects), nil
		}
	}
	return ug, nil
}

// batchError prefixes err with the index of the request that caused it,
// when there is more than one request.
func batchError(n, i int, err error) error {
	if n == 1 {
		return err
	}
	return fmt.Errorf("checks[%d]: %w", i, err)
}

// reasonForError is the deny reason reported beside an error.
func reasonForError(err error) Reason {
	if errors.Is(err, ErrUnknownPermission) {
		return ReasonUnknownPermission
	}
	return ReasonNoGrant
}
