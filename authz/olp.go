package authz

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
)

// Object-level permissions (docs/model.md, Object-level rules; Djem's OLP). An object check first
// makes the project-level decision of docs/model.md; a deny there is final and no
// rule runs. Then at most one rule for (permission, object type) decides:
//
//   - no rule: the project-level decision stands, with its reason;
//   - an active superuser: allowed (SUPERUSER) without running the rule,
//     unless universal OLP is on (WithUniversalOLP), when the rule runs for
//     superusers too and may deny them;
//   - the rule allows: allowed, reason OBJECT_RULE;
//   - the rule denies, or fails to evaluate: denied, reason DENIED_BY_RULE,
//     and the log says why it failed. A rule that fails because storage is
//     unreachable fails the check with that error instead (fail closed).
//
// Backend stays the backend that allowed at project level: the rule
// confirmed or overruled its allow.

// Object limits, matching the decision_logs columns object_type and
// object_id (VARCHAR(100) each).
const (
	MaxObjectTypeLen = 100
	MaxObjectIDLen   = 100
)

// Object is the thing an object-level check is about: its type (which
// selects the rule), its id and the attributes rules read. For an object
// grantql stores (a Page), the caller fills the attributes from the stored
// row; for any other, the caller passes them. Rules must not modify it.
type Object struct {
	Type       string
	ID         string
	Attributes map[string]any
}

// describe names the object in a log header: "<type> <id>".
func (o *Object) describe() string { return o.Type + " " + o.ID }

// validateObjectType reports why an object type is refused, or nil.
func validateObjectType(t string) error {
	if strings.TrimSpace(t) == "" {
		return invalid("object type must not be empty")
	}
	return ValidateText("object type", t, MaxObjectTypeLen, false)
}

// validate reports why an object is refused, or nil.
func (o *Object) validate() error {
	if err := validateObjectType(o.Type); err != nil {
		return err
	}
	if strings.TrimSpace(o.ID) == "" {
		return invalid("object id must not be empty")
	}
	if err := ValidateText("object id", o.ID, MaxObjectIDLen, false); err != nil {
		return err
	}
	return validateAttributes(o.Attributes)
}

// objectKey identifies an object-level result in the request cache. docs/model.md
// keys results by (permission, object type, object id); the user and the
// project are part of the key too, as one request may ask about several
// users, and a caller names the project of an object grantql does not
// store. The attributes are not: within a request, an object's attributes
// are those of its first check.
type objectKey struct {
	user, project        int64
	perm                 string
	objectType, objectID string
}

// objectResult is a cached object-level decision with its log body, so that
// a cached repeat still has its reasons (docs/model.md, Decision logs).
type objectResult struct {
	decision Decision
	body     []LogEntry
}

// CheckObject decides whether user holds perm in project on obj (docs/model.md, Object-level rules),
// and returns the decision's log (nil at verbosity 0), whose Entries the
// caller must treat as read-only: the log sink holds them too. A nil obj makes a
// project-level check, and project 0 a global one. A cold check costs the
// statement of a project-level check (which also brings the username of a
// verbosity-2 header), plus one that loads what rules see of the user and
// the project when a rule reads them (RuleContext.User and Project; a CEL
// rule that names user or project); within a request cache, a repeat costs
// none.
func (e *Engine) CheckObject(ctx context.Context, user int64, perm string, project int64, obj *Object) (Decision, *DecisionLog, error) {
	ds, logs, err := e.check(ctx, user, []CheckRequest{{Perm: perm, Project: project, Object: obj}}, true)
	if err != nil {
		return Decision{Perm: perm, Project: project, Reason: reasonForError(err)}, nil, err
	}
	if logs == nil {
		return ds[0], nil, nil
	}
	return ds[0], logs[0], nil
}

// CheckManyObjects is CheckMany that also returns each decision's log (nil
// at verbosity 0). Grants load with at most one statement whatever the
// number of projects, and what rules see of the user and the projects with
// at most one more, whatever the number of objects and projects.
func (e *Engine) CheckManyObjects(ctx context.Context, user int64, reqs []CheckRequest) ([]Decision, []*DecisionLog, error) {
	return e.check(ctx, user, reqs, true)
}

// RequireObject returns nil when actor holds perm in project on obj, an
// ErrUnauthenticated error for an anonymous actor, and a *DeniedError
// otherwise.
func (e *Engine) RequireObject(ctx context.Context, actor int64, perm string, project int64, obj *Object) error {
	d, _, err := e.CheckObject(ctx, actor, perm, project, obj)
	if err != nil {
		return err
	}
	if !d.Allowed {
		return denied(d)
	}
	return nil
}

// check answers a batch: the project-level decisions, then the object
// stage for the requests with an object, then the logs. wantLogs says
// whether the caller wants the logs back; they are built anyway when the
// engine has a sink.
func (e *Engine) check(ctx context.Context, user int64, reqs []CheckRequest, wantLogs bool) ([]Decision, []*DecisionLog, error) {
	ds, logs, err := e.checkBatch(ctx, user, reqs, wantLogs)
	e.observe(reqs, ds, err)
	return ds, logs, err
}

// checkBatch is check without the observer.
func (e *Engine) checkBatch(ctx context.Context, user int64, reqs []CheckRequest, wantLogs bool) ([]Decision, []*DecisionLog, error) {
	perms := make([]Permission, len(reqs))
	projects := make([]int64, 0, len(reqs))
	seen := make(map[int64]bool, len(reqs))
	hasObjects := false
	for i, r := range reqs {
		if err := interruptedAt(ctx, i); err != nil {
			return nil, nil, err
		}
		p, err := e.registry.Lookup(ctx, r.Perm)
		if err != nil {
			return nil, nil, batchError(len(reqs), i, err)
		}
		perms[i] = p
		if r.Project < 0 {
			return nil, nil, batchError(len(reqs), i, &NotFoundError{Kind: "project", ID: r.Project})
		}
		if r.Object != nil {
			if err := r.Object.validate(); err != nil {
				return nil, nil, batchError(len(reqs), i, err)
			}
			hasObjects = true
		}
		if r.Project > 0 && !seen[r.Project] {
			seen[r.Project] = true
			projects = append(projects, r.Project)
		}
	}
	// An anonymous check's answer is fixed by step 1 of the decision (docs/model.md) (deny,
	// ANONYMOUS) before anything is read, and it leaves no log: a caller
	// without credentials costs the database nothing, not even a write.
	logging := e.verbosity > VerbosityNone && (wantLogs || e.sink != nil) && user != Anonymous
	if !hasObjects && !logging {
		ds, _, err := e.decideAll(ctx, user, reqs, perms, projects)
		return ds, nil, err
	}
	// The run takes the cache's generation before the grants load, so
	// that a write during the load keeps results off the cache.
	run := e.newCheckRun(ctx, user)
	out, ug, err := e.decideAll(ctx, user, reqs, perms, projects)
	if err != nil {
		return nil, nil, err
	}
	run.ug = ug
	bodies := make([][]LogEntry, len(reqs))
	if hasObjects {
		if err := run.objects(ctx, reqs, perms, out, bodies); err != nil {
			return nil, nil, err
		}
	}
	if !logging {
		return out, nil, nil
	}
	username := ""
	if e.verbosity >= VerbosityHeader {
		// The grants load brings the username; a store that does not
		// (a custom one) falls back to the rule subject's statement.
		if username = ug.username; username == "" {
			if err := run.loadSubjects(ctx, nil); err != nil {
				return nil, nil, err
			}
			username = run.subjectUser.Username
		}
	}
	logs := make([]*DecisionLog, len(reqs))
	for i, r := range reqs {
		if err := interruptedAt(ctx, i); err != nil {
			return nil, nil, err
		}
		body := bodies[i]
		if body == nil {
			body = projectLevelBody(out[i])
		}
		logs[i] = e.newLog(ctx, user, username, r, out[i], withinRequestLines(run.budget, body))
	}
	if e.sink != nil {
		if err := e.enqueue(ctx, logs); err != nil {
			return nil, nil, err
		}
	}
	if !wantLogs {
		return out, nil, nil
	}
	return out, logs, nil
}

// checkRun is the state of one batch's object stage: the user's grants and
// what rules see of the user and the projects, shared by the batch's rules
// and by the checks those rules make, so that a nested check costs no
// statement of its own.
type checkRun struct {
	e     *Engine
	user  int64
	ug    *userGrants // nil for an anonymous user
	cache *RequestCache
	// gen is the request cache's generation when the run began: results
	// are cached only if no write cleared the cache since.
	gen uint64
	// lines says whether log bodies are kept (verbosity 1 and up).
	lines bool

	// pending holds the projects the batch's rules decide in, so that the
	// first rule that reads the user or the project loads them all.
	pending         []int64
	subjectLoaded   bool
	subjectUser     RuleUser
	subjectProjects map[int64]RuleProject
	// stack holds the permissions whose rules are running, outermost
	// first, to refuse a rule that would check itself.
	stack []string
	// budget counts what the request has spent of its rule steps and log
	// lines (the request cache's), or this batch's without a request
	// cache.
	budget *requestBudget
}

// maxRuleDepth bounds how deeply rules may check permissions whose rules
// check others: deep enough for a rule that needs a permission whose own
// rule needs a third, and shallow enough that a chain this long reads as
// a mistake in the policy rather than a policy.
const maxRuleDepth = 8

func (e *Engine) newCheckRun(ctx context.Context, user int64) *checkRun {
	r := &checkRun{e: e, user: user, cache: RequestCacheFrom(ctx), lines: e.verbosity > VerbosityNone}
	r.budget = &requestBudget{}
	if r.cache != nil {
		r.gen = r.cache.currentGeneration()
		r.budget = &r.cache.budget
	}
	return r
}

// decideAll makes the project-level decisions of a batch whose
// permissions and projects are validated, and returns the grants it
// decided on (nil for an anonymous user, who has none).
func (e *Engine) decideAll(ctx context.Context, user int64, reqs []CheckRequest, perms []Permission, projects []int64) ([]Decision, *userGrants, error) {
	out := make([]Decision, len(reqs))
	if user == Anonymous {
		for i, r := range reqs {
			out[i] = Decision{Perm: r.Perm, Project: r.Project, Reason: ReasonAnonymous}
		}
		return out, nil, nil
	}
	ug, err := e.grants(ctx, user, projects)
	if err != nil {
		return nil, nil, err
	}
	if !ug.found {
		return nil, nil, &NotFoundError{Kind: "user", ID: user}
	}
	for i, r := range reqs {
		if r.Project > 0 && ug.projects[r.Project] == nil {
			return nil, nil, batchError(len(reqs), i, &NotFoundError{Kind: "project", ID: r.Project})
		}
	}
	for i, r := range reqs {
		if err := interruptedAt(ctx, i); err != nil {
			return nil, nil, err
		}
		d, err := e.decide(ctx, user, ug, perms[i], r.Project)
		if err != nil {
			return nil, nil, batchError(len(reqs), i, err)
		}
		out[i] = d
	}
	return out, ug, nil
}

// objects runs the object stage of a batch: for each request with an
// object, the cached result, or the rule that decides, or the project-level
// decision when no rule does. out holds the project-level decisions and
// receives the final ones; bodies receives the log bodies.
func (r *checkRun) objects(ctx context.Context, reqs []CheckRequest, perms []Permission, out []Decision, bodies [][]LogEntry) error {
	type pending struct {
		i    int
		key  objectKey
		rule Rule
	}
	var (
		todo     []pending
		projects []int64
	)
	for i, req := range reqs {
		if err := interruptedAt(ctx, i); err != nil {
			return err
		}
		if req.Object == nil {
			continue
		}
		key := objectKey{user: r.user, project: req.Project, perm: perms[i].Key(), objectType: req.Object.Type, objectID: req.Object.ID}
		if r.cache != nil {
			if res, ok := r.cache.lookupObject(key); ok {
				out[i], bodies[i] = res.decision, res.body
				continue
			}
		}
		rule, err := r.ruleFor(ctx, out[i], key.perm, req.Object.Type)
		if err != nil {
			return batchError(len(reqs), i, err)
		}
		if rule == nil {
			if r.lines {
				bodies[i] = projectLevelBody(out[i])
			}
			r.store(key, out[i], bodies[i])
			continue
		}
		todo = append(todo, pending{i: i, key: key, rule: rule})
		projects = append(projects, req.Project)
	}
	r.pending = projects
	for _, p := range todo {
		// Every rule looks: one rule may take a while.
		if err := interrupted(ctx); err != nil {
			return err
		}
		req := reqs[p.i]
		d, body, err := r.runRule(ctx, p.rule, p.key.perm, req.Project, req.Object, out[p.i])
		if err != nil {
			return batchError(len(reqs), p.i, err)
		}
		out[p.i], bodies[p.i] = d, body
		r.store(p.key, d, body)
	}
	return nil
}

// ruleFor returns the rule that decides perm on objects of objectType after
// the project-level decision pl, or nil when none does: a project-level deny
// is final, a superuser skips rules unless universal OLP is on, and most
// (permission, type) pairs have no rule.
func (r *checkRun) ruleFor(ctx context.Context, pl Decision, perm, objectType string) (Rule, error) {
	if !pl.Allowed || (pl.Reason == ReasonSuperuser && !r.e.universalOLP) {
		return nil, nil
	}
	return r.e.rules.lookup(ctx, perm, objectType)
}

// store caches an object-level result for the request.
func (r *checkRun) store(k objectKey, d Decision, body []LogEntry) {
	if r.cache != nil {
		r.cache.storeObject(k, objectResult{decision: d, body: body}, r.gen)
	}
}

// runRule runs rule after the project-level allow pl, and returns the final
// decision and its log body.
func (r *checkRun) runRule(ctx context.Context, rule Rule, perm string, project int64, obj *Object, pl Decision) (Decision, []LogEntry, error) {
	if len(r.stack) >= maxRuleDepth {
		return pl, nil, invalid("rules check permissions %d deep (%s → %s), at most %d are allowed",
			len(r.stack)+1, strings.Join(r.stack, " → "), perm, maxRuleDepth)
	}
	rc := &RuleContext{Object: obj, Perm: perm, ctx: ctx, run: r, project: project}
	if r.lines {
		rc.log.lines = append(make([]LogEntry, 0, 4), modelLine(true))
	}
	r.stack = append(r.stack, perm)
	allowed, err := callRule(ctx, rule, rc)
	r.stack = r.stack[:len(r.stack)-1]
	if rc.err != nil {
		err = rc.err
	}
	d := pl
	var ruleErr error
	switch {
	case err != nil && errors.Is(err, ErrUnavailable):
		return pl, nil, fmt.Errorf("rule for %s on %s %s: %w", perm, obj.Type, obj.ID, err)
	case err != nil:
		d.Allowed, d.Reason = false, ReasonDeniedByRule
		ruleErr = err
	case allowed:
		d.Reason = ReasonObjectRule
	default:
		d.Allowed, d.Reason, d.Missing = false, ReasonDeniedByRule, rc.missing
	}
	if !r.lines {
		return d, nil, nil
	}
	return d, rc.log.finish(ruleErr, d.Allowed), nil
}

// callRule calls rule, turning a panic into an error so that a broken rule
// denies rather than takes the server down.
func callRule(ctx context.Context, rule Rule, rc *RuleContext) (allowed bool, err error) {
	defer func() {
		if p := recover(); p != nil {
			allowed, err = false, fmt.Errorf("rule panicked: %v", p)
		}
	}()
	return rule(ctx, rc)
}

// nested decides perm for the run's user in project on obj, for a rule
// that checks another permission: the project-level decision from the
// run's grants, then the object stage, cached like any object check.
func (r *checkRun) nested(ctx context.Context, perm string, project int64, obj *Object) (Decision, []LogEntry, error) {
	p, err := r.e.registry.Lookup(ctx, perm)
	if err != nil {
		return Decision{}, nil, err
	}
	if slices.Contains(r.stack, perm) {
		return Decision{}, nil, invalid("rule cycle: %s → %s", strings.Join(r.stack, " → "), perm)
	}
	key := objectKey{user: r.user, project: project, perm: perm, objectType: obj.Type, objectID: obj.ID}
	if r.cache != nil {
		if res, ok := r.cache.lookupObject(key); ok {
			return res.decision, res.body, nil
		}
	}
	if r.ug == nil {
		// Rules run only after a project-level allow, which an anonymous
		// user never has; a run without grants cannot get here.
		return Decision{}, nil, fmt.Errorf("check %s: no grants loaded for user %d: %w", perm, r.user, ErrInvalidInput)
	}
	pl, err := r.e.decide(ctx, r.user, r.ug, p, project)
	if err != nil {
		return Decision{}, nil, err
	}
	rule, err := r.ruleFor(ctx, pl, perm, obj.Type)
	if err != nil {
		return Decision{}, nil, err
	}
	if rule == nil {
		var body []LogEntry
		if r.lines {
			body = projectLevelBody(pl)
		}
		r.store(key, pl, body)
		return pl, body, nil
	}
	d, body, err := r.runRule(ctx, rule, perm, project, obj, pl)
	if err != nil {
		return Decision{}, nil, err
	}
	r.store(key, d, body)
	return d, body, nil
}

// loadSubjects makes sure the run knows what rules see of its user and of
// projects (0, a global check, has nothing to see): from the request cache
// when it holds them, with one statement otherwise.
func (r *checkRun) loadSubjects(ctx context.Context, projects []int64) error {
	var want []int64
	for _, p := range projects {
		if _, ok := r.subjectProjects[p]; !ok && p > 0 && !slices.Contains(want, p) {
			want = append(want, p)
		}
	}
	if r.subjectLoaded && len(want) == 0 {
		return nil
	}
	if r.subjectProjects == nil {
		r.subjectProjects = make(map[int64]RuleProject, len(want))
	}
	if r.cache != nil {
		u, ok, found, missing := r.cache.lookupSubject(r.user, want)
		for id, p := range found {
			r.subjectProjects[id] = p
		}
		if ok && len(missing) == 0 {
			r.subjectUser, r.subjectLoaded = u, true
			return nil
		}
		want = missing
	}
	u, ps, err := r.e.store.RuleSubject(ctx, r.user, want)
	if err != nil {
		return fmt.Errorf("load what rules see of user %d: %w", r.user, err)
	}
	for _, p := range want {
		if _, ok := ps[p]; !ok {
			return &NotFoundError{Kind: "project", ID: p}
		}
		r.subjectProjects[p] = ps[p]
	}
	r.subjectUser, r.subjectLoaded = u, true
	if r.cache != nil {
		r.cache.storeSubject(u, ps, r.gen)
	}
	return nil
}

// UpdatePage changes a page's title or body (nil: unchanged). Like every
// write, it clears the request cache, as rules read pages.
func (e *Engine) UpdatePage(ctx context.Context, id int64, title, body *string) (Page, error) {
	if title != nil {
		if err := validateName("page title", *title, MaxPageTitleLen); err != nil {
			return Page{}, err
		}
	}
	if body != nil {
		if err := ValidateText("page body", *body, 0, true); err != nil {
			return Page{}, err
		}
	}
	return write(ctx, e, func() (Page, error) { return e.store.UpdatePage(ctx, id, title, body) })
}

// PublishPage publishes or unpublishes a page, clearing the request cache:
// the built-in Page rules read whether a page is published.
func (e *Engine) PublishPage(ctx context.Context, id int64, published bool) (Page, error) {
	return write(ctx, e, func() (Page, error) { return e.store.PublishPage(ctx, id, published) })
}
