package authz_test

import (
	"context"
	"errors"
	"sync"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/grantql/grantql/authz"
	"github.com/grantql/grantql/internal/dbtest"
	"github.com/grantql/grantql/models"
)

// testBackend is a Backend whose vote is a function, and which records the
// queries it is asked.
type testBackend struct {
	name string
	vote func(q authz.Query) (authz.Vote, error)

	mu    sync.Mutex
	calls []authz.Query
}

func (b *testBackend) Name() string { return b.name }

func (b *testBackend) Check(_ context.Context, q authz.Query) (authz.Vote, error) {
	b.mu.Lock()
	b.calls = append(b.calls, q)
	b.mu.Unlock()
	return b.vote(q)
}

func (b *testBackend) queries() []authz.Query {
	b.mu.Lock()
	defer b.mu.Unlock()
	return append([]authz.Query(nil), b.calls...)
}

// voting returns a backend that answers every query with effect.
func voting(name string, effect authz.Effect) *testBackend {
	return &testBackend{name: name, vote: func(authz.Query) (authz.Vote, error) {
		return authz.Vote{Effect: effect}, nil
	}}
}

// votingOn returns a backend that answers effect for perm and abstains on
// every other permission.
func votingOn(name string, effect authz.Effect, perm string) *testBackend {
	return &testBackend{name: name, vote: func(q authz.Query) (authz.Vote, error) {
		if q.Perm.Key() == perm {
			return authz.Vote{Effect: effect}, nil
		}
		return authz.Vote{Effect: authz.Abstain}, nil
	}}
}

// unreachable returns a backend that fails the test when it is asked.
func unreachable(t *testing.T) *testBackend {
	return &testBackend{name: "unreachable", vote: func(q authz.Query) (authz.Vote, error) {
		t.Errorf("backend asked %+v, want no backend asked", q)
		return authz.Vote{Effect: authz.Allow}, nil
	}}
}

var errBackendDown = errors.New("policy service down")

// broken returns a backend that fails every query.
func broken() *testBackend {
	return &testBackend{name: "broken", vote: func(authz.Query) (authz.Vote, error) {
		return authz.Vote{}, errBackendDown
	}}
}

// backendWorld is the data of the backend tests.
type backendWorld struct {
	f *fixture
	// alice holds view_page in p7 (a project user grant); bob holds nothing;
	// dave holds view_page globally through readers; carol is inactive and
	// holds view_page globally; root is an active superuser; ina an
	// inactive one.
	alice, bob, carol, dave, root, ina int64
	readers                            int64
	p7                                 int64
}

func newBackendWorld(t *testing.T, db *models.DB, backends ...authz.Backend) *backendWorld {
	t.Helper()
	for _, table := range []string{"users", "groups", "projects"} {
		dbtest.MustExec(t, db, "DELETE FROM "+table)
	}
	f := newFixture(t, db, authz.WithBackends(backends...))
	w := &backendWorld{f: f}
	w.alice = f.user("alice", true, false)
	w.bob = f.user("bob", true, false)
	w.carol = f.user("carol", false, false)
	w.dave = f.user("dave", true, false)
	w.root = f.user("root", true, true)
	w.ina = f.user("ina", false, true)
	w.readers = f.group("readers", w.dave)
	w.p7 = f.project("seven")
	f.must(f.e.GrantProjectPerm(f.ctx, authz.Holder{User: w.alice}, viewPage, w.p7))
	f.must(f.e.GrantPerm(f.ctx, authz.Holder{Group: w.readers}, viewPage))
	f.must(f.e.GrantPerm(f.ctx, authz.Holder{User: w.carol}, viewPage))
	return w
}

const viewPage = "projects.view_page"

// TestBackendChain holds the decision chain to docs/model.md's Backends
// paragraph: the first allow wins, a veto ends the check at once, all
// abstaining denies, an error fails closed, and anonymous, inactive and
// active superusers are decided before any backend is asked.
func TestBackendChain(t *testing.T) {
	builtin := authz.BuiltinBackend()
	cases := []struct {
		name  string
		chain func(t *testing.T) []authz.Backend
		user  func(w *backendWorld) int64
		// global asks HasPerm; otherwise HasProjectPerm in p7.
		global  bool
		allowed bool
		reason  authz.Reason
		backend string
		err     error
	}{
		{
			name:   "veto before the builtin denies a holder",
			chain:  func(*testing.T) []authz.Backend { return []authz.Backend{voting("policy", authz.Veto), builtin} },
			user:   func(w *backendWorld) int64 { return w.alice },
			reason: authz.ReasonVetoed, backend: "policy",
		},
		{
			name:   "veto before the builtin denies a global holder in HasPerm",
			chain:  func(*testing.T) []authz.Backend { return []authz.Backend{voting("policy", authz.Veto), builtin} },
			user:   func(w *backendWorld) int64 { return w.dave },
			global: true,
			reason: authz.ReasonVetoed, backend: "policy",
		},
		{
			name:    "veto after the builtin does not matter when the builtin allows",
			chain:   func(*testing.T) []authz.Backend { return []authz.Backend{builtin, voting("policy", authz.Veto)} },
			user:    func(w *backendWorld) int64 { return w.alice },
			allowed: true, reason: authz.ReasonProjectUser, backend: authz.BuiltinBackendName,
		},
		{
			name:   "veto after the builtin ends a check the builtin abstains on",
			chain:  func(*testing.T) []authz.Backend { return []authz.Backend{builtin, voting("policy", authz.Veto)} },
			user:   func(w *backendWorld) int64 { return w.bob },
			reason: authz.ReasonVetoed, backend: "policy",
		},
		{
			name:    "allowing backend grants what the builtin would not",
			chain:   func(*testing.T) []authz.Backend { return []authz.Backend{builtin, voting("sso", authz.Allow)} },
			user:    func(w *backendWorld) int64 { return w.bob },
			allowed: true, reason: authz.ReasonObjectRule, backend: "sso",
		},
		{
			name:    "allowing backend grants globally too",
			chain:   func(*testing.T) []authz.Backend { return []authz.Backend{builtin, voting("sso", authz.Allow)} },
			user:    func(w *backendWorld) int64 { return w.bob },
			global:  true,
			allowed: true, reason: authz.ReasonObjectRule, backend: "sso",
		},
		{
			name: "allowing backend reports its own reason",
			chain: func(*testing.T) []authz.Backend {
				return []authz.Backend{&testBackend{name: "sso", vote: func(authz.Query) (authz.Vote, error) {
					return authz.Vote{Effect: authz.Allow, Reason: authz.ReasonGlobalGroup}, nil
				}}}
			},
			user:    func(w *backendWorld) int64 { return w.bob },
			allowed: true, reason: authz.ReasonGlobalGroup, backend: "sso",
		},
		{
			name: "first allow wins over a later veto",
			chain: func(*testing.T) []authz.Backend {
				return []authz.Backend{voting("sso", authz.Allow), voting("policy", authz.Veto)}
			},
			user:    func(w *backendWorld) int64 { return w.bob },
			allowed: true, reason: authz.ReasonObjectRule, backend: "sso",
		},
		{
			name: "every backend abstaining denies",
			chain: func(*testing.T) []authz.Backend {
				return []authz.Backend{voting("a", authz.Abstain), builtin, voting("b", authz.Abstain)}
			},
			user:   func(w *backendWorld) int64 { return w.bob },
			reason: authz.ReasonNoGrant,
		},
		{
			name:   "a chain without the builtin ignores grants",
			chain:  func(*testing.T) []authz.Backend { return []authz.Backend{voting("a", authz.Abstain)} },
			user:   func(w *backendWorld) int64 { return w.alice },
			reason: authz.ReasonNoGrant,
		},
		{
			name:    "active superuser is allowed before any backend is asked",
			chain:   func(t *testing.T) []authz.Backend { return []authz.Backend{unreachable(t)} },
			user:    func(w *backendWorld) int64 { return w.root },
			allowed: true, reason: authz.ReasonSuperuser,
		},
		{
			name:    "active superuser is allowed globally before any backend is asked",
			chain:   func(t *testing.T) []authz.Backend { return []authz.Backend{unreachable(t)} },
			user:    func(w *backendWorld) int64 { return w.root },
			global:  true,
			allowed: true, reason: authz.ReasonSuperuser,
		},
		{
			name:   "inactive user is denied before any backend is asked",
			chain:  func(t *testing.T) []authz.Backend { return []authz.Backend{unreachable(t)} },
			user:   func(w *backendWorld) int64 { return w.carol },
			reason: authz.ReasonInactive,
		},
		{
			name:   "inactive user is denied globally before any backend is asked",
			chain:  func(t *testing.T) []authz.Backend { return []authz.Backend{unreachable(t)} },
			user:   func(w *backendWorld) int64 { return w.carol },
			global: true,
			reason: authz.ReasonInactive,
		},
		{
			name:   "inactive superuser is denied before any backend is asked",
			chain:  func(t *testing.T) []authz.Backend { return []authz.Backend{unreachable(t)} },
			user:   func(w *backendWorld) int64 { return w.ina },
			reason: authz.ReasonInactive,
		},
		{
			name:   "anonymous is denied before any backend is asked",
			chain:  func(t *testing.T) []authz.Backend { return []authz.Backend{unreachable(t)} },
			user:   func(w *backendWorld) int64 { return authz.Anonymous },
			reason: authz.ReasonAnonymous,
		},
		{
			name:  "backend error fails closed",
			chain: func(*testing.T) []authz.Backend { return []authz.Backend{broken(), builtin} },
			user:  func(w *backendWorld) int64 { return w.alice },
			err:   errBackendDown,
		},
		{
			name:   "backend error fails closed globally",
			chain:  func(*testing.T) []authz.Backend { return []authz.Backend{broken(), builtin} },
			user:   func(w *backendWorld) int64 { return w.dave },
			global: true,
			err:    errBackendDown,
		},
		{
			name:    "backend after an allow is not asked, so its error does not matter",
			chain:   func(*testing.T) []authz.Backend { return []authz.Backend{builtin, broken()} },
			user:    func(w *backendWorld) int64 { return w.alice },
			allowed: true, reason: authz.ReasonProjectUser, backend: authz.BuiltinBackendName,
		},
	}
	dbtest.Run(t, func(t *testing.T, db *models.DB) {
		for _, tc := range cases {
			t.Run(tc.name, func(t *testing.T) {
				w := newBackendWorld(t, db, tc.chain(t)...)
				user := tc.user(w)
				var (
					d   authz.Decision
					err error
					fn  string
				)
				if tc.global {
					fn = "HasPerm(" + viewPage + ")"
					d, err = w.f.e.HasPerm(w.f.ctx, user, viewPage)
				} else {
					fn = "HasProjectPerm(" + viewPage + ", p7)"
					d, err = w.f.e.HasProjectPerm(w.f.ctx, user, viewPage, w.p7)
				}
				if tc.err != nil {
					if !errors.Is(err, tc.err) || d.Allowed {
						t.Fatalf("%s = %+v, %v, want a deny and error %v", fn, d, err, tc.err)
					}
					return
				}
				if err != nil {
					t.Fatalf("%s error = %v, want nil", fn, err)
				}
				if d.Allowed != tc.allowed || d.Reason != tc.reason || d.Backend != tc.backend {
					t.Errorf("%s = %v/%s/%q, want %v/%s/%q", fn, d.Allowed, d.Reason, d.Backend, tc.allowed, tc.reason, tc.backend)
				}
			})
		}
	})
}

// TestBackendQuery holds what a backend is asked to the data: the user, the
// permission, the project (0 for HasPerm), and every source the user holds
// the permission from, project sources only for a project check.
func TestBackendQuery(t *testing.T) {
	cases := []struct {
		name   string
		global bool
		held   authz.Sources
	}{
		{name: "project check", held: authz.FromGlobalUser | authz.FromGlobalGroup | authz.FromProjectUser | authz.FromProjectGroup},
		{name: "global check", global: true, held: authz.FromGlobalUser | authz.FromGlobalGroup},
	}
	dbtest.Run(t, func(t *testing.T, db *models.DB) {
		for _, tc := range cases {
			t.Run(tc.name, func(t *testing.T) {
				rec := voting("recorder", authz.Abstain)
				w := newBackendWorld(t, db, rec)
				f := w.f
				// dave holds view_page globally through readers already.
				f.must(f.e.GrantPerm(f.ctx, authz.Holder{User: w.dave}, viewPage))
				f.must(f.e.GrantProjectPerm(f.ctx, authz.Holder{User: w.dave}, viewPage, w.p7))
				f.must(f.e.GrantProjectPerm(f.ctx, authz.Holder{Group: w.readers}, viewPage, w.p7))
				perm, err := f.e.Registry().Lookup(f.ctx, viewPage)
				f.must(err)
				want := []authz.Query{{User: w.dave, Perm: perm, Held: tc.held}}
				if tc.global {
					_, err = f.e.HasPerm(f.ctx, w.dave, viewPage)
				} else {
					want[0].Project = w.p7
					_, err = f.e.HasProjectPerm(f.ctx, w.dave, viewPage, w.p7)
				}
				f.must(err)
				if diff := cmp.Diff(want, rec.queries()); diff != "" {
					t.Errorf("queries asked mismatch (-want +got):\n%s", diff)
				}
			})
		}
	})
}

// TestBackendChainManyPermissions holds ProjectPermissions and CheckMany to
// the chain: a veto on one permission removes it, an allow on another adds
// it, and a backend error fails the whole batch.
func TestBackendChainManyPermissions(t *testing.T) {
	const publish = "projects.publish_page"
	dbtest.Run(t, func(t *testing.T, db *models.DB) {
		t.Run("ProjectPermissions", func(t *testing.T) {
			w := newBackendWorld(t, db,
				votingOn("policy", authz.Veto, viewPage), authz.BuiltinBackend(), votingOn("sso", authz.Allow, publish))
			f := w.f
			f.must(f.e.GrantProjectPerm(f.ctx, authz.Holder{User: w.alice}, "projects.change_page", w.p7))
			got, err := f.e.ProjectPermissions(f.ctx, w.alice, w.p7)
			f.must(err)
			want := []string{"projects.change_page", publish}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("ProjectPermissions(alice, p7) mismatch (-want +got):\n%s", diff)
			}
		})
		t.Run("CheckMany", func(t *testing.T) {
			w := newBackendWorld(t, db,
				votingOn("policy", authz.Veto, viewPage), authz.BuiltinBackend(), votingOn("sso", authz.Allow, publish))
			f := w.f
			got, err := f.e.CheckMany(f.ctx, w.alice, []authz.CheckRequest{
				{Perm: viewPage, Project: w.p7}, {Perm: publish, Project: w.p7}, {Perm: publish}, {Perm: "projects.add_page", Project: w.p7},
			})
			f.must(err)
			want := []authz.Decision{
				{Perm: viewPage, Project: w.p7, Reason: authz.ReasonVetoed, Backend: "policy"},
				{Allowed: true, Perm: publish, Project: w.p7, Reason: authz.ReasonObjectRule, Backend: "sso"},
				{Allowed: true, Perm: publish, Reason: authz.ReasonObjectRule, Backend: "sso"},
				{Perm: "projects.add_page", Project: w.p7, Reason: authz.ReasonNoGrant},
			}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("CheckMany(alice) mismatch (-want +got):\n%s", diff)
			}
		})
		t.Run("CheckMany with a broken backend", func(t *testing.T) {
			w := newBackendWorld(t, db, authz.BuiltinBackend(), broken())
			f := w.f
			// alice's view_page is allowed by the builtin, so only the
			// second request reaches the broken backend.
			got, err := f.e.CheckMany(f.ctx, w.alice, []authz.CheckRequest{
				{Perm: viewPage, Project: w.p7}, {Perm: publish, Project: w.p7},
			})
			if !errors.Is(err, errBackendDown) || got != nil {
				t.Errorf("CheckMany(alice) = %+v, %v, want nil, error %v", got, err, errBackendDown)
			}
			perms, err := f.e.ProjectPermissions(f.ctx, w.alice, w.p7)
			if !errors.Is(err, errBackendDown) || perms != nil {
				t.Errorf("ProjectPermissions(alice, p7) = %v, %v, want nil, error %v", perms, err, errBackendDown)
			}
		})
	})
}
