package authz

import (
	"context"
	"fmt"
	"sync"
	"time"
)

// Rule decides a permission on an object after the project-level decision
// allowed (docs/model.md, Object-level rules). It returns true to allow and false to deny; an error
// denies too, and its message goes into the log ("Rule error: ..."), except
// an ErrUnavailable error, which fails the check. A rule may write lines
// into the log and check other permissions through rc. Rules are Go
// functions registered with RegisterRule, or CEL expressions kept in a
// RuleStore (cel.go); the engine may call a rule from several goroutines
// at once.
type Rule func(ctx context.Context, rc *RuleContext) (bool, error)

// RuleUser is what rules see of the user a check is about.
type RuleUser struct {
	ID          int64
	Username    string
	IsSuperuser bool
	Groups      []string // the names of the user's groups, sorted
}

// RuleProject is what rules see of the project a check is in; the zero
// value for a global check.
type RuleProject struct {
	ID   int64
	Name string
}

// RuleSubjectStore loads what rules see of a user and of projects.
type RuleSubjectStore interface {
	// RuleSubject returns, in one statement, the user (with the names of
	// its groups, sorted) and those of projects that exist, by id; a
	// *NotFoundError when the user does not exist.
	RuleSubject(ctx context.Context, user int64, projects []int64) (RuleUser, map[int64]RuleProject, error)
}

// RuleContext is what a rule is given: the object and the permission of
// the check, the user and the project (User, Project), a log to write into
// (Log), and a way to check other permissions (Check). It is valid only
// during the rule's call.
type RuleContext struct {
	Object *Object
	// Perm is the permission the rule decides.
	Perm string

	ctx     context.Context
	run     *checkRun
	project int64
	log     ruleLog // empty at verbosity 0
	// err is why User or Project could not load; it replaces the rule's
	// answer.
	err error
	// missing is the first permission Check found denied (Decision.Missing).
	missing string
}

// User returns what rules see of the user the check is about. It loads on
// the first call of a batch's rules, in one statement for the user and
// every project the batch's rules decide in, or from the request cache; a
// rule that calls neither User nor Project costs no statement. When the
// load fails, User returns the zero RuleUser and the rule's answer is
// replaced by the failure.
func (rc *RuleContext) User() RuleUser {
	if err := rc.run.loadSubjects(rc.ctx, rc.run.pending); err != nil {
		rc.err = err
		return RuleUser{}
	}
	return rc.run.subjectUser
}

// Project returns what rules see of the project the check is in: the zero
// RuleProject for a global check. It loads like User.
func (rc *RuleContext) Project() RuleProject {
	if rc.project == 0 {
		return RuleProject{}
	}
	if err := rc.run.loadSubjects(rc.ctx, append(rc.run.pending[:len(rc.run.pending):len(rc.run.pending)], rc.project)); err != nil {
		rc.err = err
		return RuleProject{}
	}
	return rc.run.subjectProjects[rc.project]
}

// Log writes a line into the check's log, with the given tags (none by
// default). At verbosity 0 it does nothing; past MaxLogLines or
// MaxLogBytes, the line is counted and left out.
func (rc *RuleContext) Log(text string, tags ...string) {
	if !rc.run.lines {
		return
	}
	var t []string
	if len(tags) > 0 {
		t = append([]string(nil), tags...)
	}
	rc.log.add(LogEntry{Text: text, Tags: t})
}

// auto writes an automatic line.
func (rc *RuleContext) auto(text string) {
	if rc.run.lines {
		rc.log.add(autoLine(text))
	}
}

// Check decides perm for the same user in the same project on the same
// object, rules included, and pulls the lines of that check's log into this
// one, indented, within the bounds of a log. An error (an unknown
// permission, a rule that would check itself) is the rule's to return.
func (rc *RuleContext) Check(perm string) (bool, error) {
	d, body, err := rc.run.nested(rc.ctx, perm, rc.project, rc.Object)
	if err != nil {
		return false, fmt.Errorf("check %s: %w", perm, err)
	}
	if rc.run.lines {
		for _, l := range body {
			rc.log.add(LogEntry{Text: nestedIndent + l.Text, Tags: l.Tags})
		}
	}
	if !d.Allowed && rc.missing == "" {
		rc.missing = perm
		if d.Missing != "" {
			rc.missing = d.Missing
		}
	}
	return d.Allowed, nil
}

// ruleKey names what a rule decides: a permission on a type of object.
type ruleKey struct{ perm, objectType string }

// ruleReloadInterval bounds how stale the engine's copy of the stored rules
// may be: a rule created or deleted through another instance is enforced
// within a second, like a permission defined there (registryReloadInterval),
// and reading them costs at most one statement per second per instance.
// Rules changed through this engine are seen at once.
const ruleReloadInterval = time.Second

// ruleSet holds an engine's rules: Go rules, registered in the process,
// and stored rules, read from the RuleStore and compiled once.
type ruleSet struct {
	store RuleStore // nil: Go rules only

	mu       sync.RWMutex
	goRules  map[ruleKey]Rule
	stored   map[ruleKey]*storedRule
	loaded   bool
	loadedAt time.Time

	// reload serializes reads of the store, so that concurrent checks
	// that find the copy stale read it once.
	reload sync.Mutex
}

func newRuleSet() *ruleSet {
	return &ruleSet{goRules: map[ruleKey]Rule{}, stored: map[ruleKey]*storedRule{}}
}

// RegisterRule makes r decide perm on objects of objectType. At most one
// rule decides a (permission, object type): a second, Go or stored, is an
// ErrConflict error. perm must be well formed; it need not be in the
// registry yet.
func (e *Engine) RegisterRule(perm, objectType string, r Rule) error {
	if _, _, err := ParsePerm(perm); err != nil {
		return err
	}
	if err := validateObjectType(objectType); err != nil {
		return fmt.Errorf("register rule for %s: %w", perm, err)
	}
	if r == nil {
		return invalid("register rule for %s on %s: the rule is nil", perm, objectType)
	}
	k := ruleKey{perm, objectType}
	s := e.rules
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.goRules[k]; ok {
		return Conflict("a Go rule decides %s on %s already", perm, objectType)
	}
	if sr, ok := s.stored[k]; ok {
		return Conflict("stored rule %d decides %s on %s already", sr.ID, perm, objectType)
	}
	s.goRules[k] = r
	return nil
}

// hasGoRule reports whether a Go rule decides k.
func (s *ruleSet) hasGoRule(k ruleKey) bool {
	s.mu.RLock()
	defer s.mu.RUnlock()
	_, ok := s.goRules[k]
	return ok
}

// lookup returns the rule that decides perm on objects of objectType, or
// nil. It reads the stored rules first when its copy is stale.
func (s *ruleSet) lookup(ctx context.Context, perm, objectType string) (Rule, error) {
	if s.store != nil {
		if err := s.refresh(ctx, false); err != nil {
			return nil, err
		}
	}
	k := ruleKey{perm, objectType}
	s.mu.RLock()
	g, sr := s.goRules[k], s.stored[k]
	s.mu.RUnlock()
	switch {
	case g != nil && sr != nil:
		// A Go rule registered after the stored rule was created: neither
		// may decide alone, so the check fails closed.
		return conflictRule(sr.ID), nil
	case g != nil:
		return g, nil
	case sr != nil:
		return sr.eval, nil
	}
	return nil, nil
}

// conflictRule denies, saying that two rules claim the same decision.
func conflictRule(id int64) Rule {
	return func(context.Context, *RuleContext) (bool, error) {
		return false, fmt.Errorf("both a Go rule and stored rule %d decide this permission on this type", id)
	}
}

// refresh reads the stored rules when the copy is stale, or always when
// force is set, compiling only those it has not compiled before.
func (s *ruleSet) refresh(ctx context.Context, force bool) error {
	fresh := func() bool {
		s.mu.RLock()
		defer s.mu.RUnlock()
		return s.loaded && time.Since(s.loadedAt) < ruleReloadInterval
	}
	if !force && fresh() {
		return nil
	}
	s.reload.Lock()
	defer s.reload.Unlock()
	if !force && fresh() {
		return nil // another check read them while this one waited
	}
	rules, err := s.store.Rules(ctx)
	if err != nil {
		return fmt.Errorf("load rules: %w", err)
	}
	s.replace(rules)
	return nil
}

// replace makes rules the stored rules, reusing the programs of those
// whose id and expression have not changed.
func (s *ruleSet) replace(rules []StoredRule) {
	s.mu.RLock()
	old := s.stored
	s.mu.RUnlock()
	byID := make(map[int64]*storedRule, len(old))
	for _, sr := range old {
		byID[sr.ID] = sr
	}
	stored := make(map[ruleKey]*storedRule, len(rules))
	for _, r := range rules {
		if sr, ok := byID[r.ID]; ok && sr.Expression == r.Expression {
			cp := *sr
			cp.StoredRule = r
			stored[ruleKey{r.Perm, r.ObjectType}] = &cp
			continue
		}
		stored[ruleKey{r.Perm, r.ObjectType}] = compileStored(r)
	}
	s.mu.Lock()
	s.stored, s.loaded, s.loadedAt = stored, true, time.Now()
	s.mu.Unlock()
}

// The permissions the built-in Page rules need, beside PermDeletePage.
const (
	PermChangePage  = "projects.change_page"
	PermPublishPage = "projects.publish_page"
	// PermChangeRule is needed to create and delete declarative rules.
	PermChangeRule = "authz.change_rule"
)

// PageObjectType is the object type of the built-in Page.
const PageObjectType = "Page"

// PageObject returns the object of an object check on p: type Page, its
// id, and the attributes rules read (published, authorId, projectId).
func PageObject(p Page) *Object {
	return &Object{Type: PageObjectType, ID: fmt.Sprint(p.ID), Attributes: map[string]any{
		"published": p.Published,
		"authorId":  p.AuthorID,
		"projectId": p.ProjectID,
	}}
}

// RegisterPageRules registers the built-in Page rules: changing
// (projects.change_page) or deleting (projects.delete_page) a published
// page also needs projects.publish_page in its project. NewEngine calls
// it unless given WithoutPageRules.
func RegisterPageRules(e *Engine) error {
	for _, perm := range []string{PermChangePage, PermDeletePage} {
		if err := e.RegisterRule(perm, PageObjectType, publishedPageRule); err != nil {
			return fmt.Errorf("register the Page rule for %s: %w", perm, err)
		}
	}
	return nil
}

// publishedPageRule allows any change to a page that is not published, and
// on a published one asks for projects.publish_page too. A page object
// without a boolean "published" attribute is an error, so the rule fails
// closed for a caller that forgot it.
func publishedPageRule(_ context.Context, rc *RuleContext) (bool, error) {
	v, ok := rc.Object.Attributes["published"]
	if !ok {
		return false, fmt.Errorf("page %s has no published attribute", rc.Object.ID)
	}
	published, ok := v.(bool)
	if !ok {
		return false, fmt.Errorf("page %s: published is a %T, want a bool", rc.Object.ID, v)
	}
	if !published {
		return true, nil
	}
	rc.Log("Page is published: " + PermPublishPage + " is required too")
	return rc.Check(PermPublishPage)
}
