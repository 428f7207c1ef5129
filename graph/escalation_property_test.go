package graph_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/grantql/grantql/authz"
	"github.com/grantql/grantql/internal/dbtest"
	"github.com/grantql/grantql/models"
)

// envEscalationSeed names the variable that fixes the seed of
// TestNoEscalationProperty's first run.
const envEscalationSeed = "GRANTQL_ESCALATION_SEED"

// escalationRuns is how many random runs of escalationSteps mutations each
// dialect plays. A step is one request and some forty statements that
// read the state back: a run takes some 0.4 s on SQLite and 1 s on
// PostgreSQL, and under the race detector, which slows the pure-Go SQLite
// driver some 25 times, 10 s and 3 s; so a -race run plays few, and
// `make test` plays the full count again without it. Against the code
// before the fix of finding 1 of the security review (a token minted for
// an inactive superuser), 24 runs of 40 failed: the full count misses it
// once in a million, a -race run once in sixteen.
func escalationRuns(dialect string) int {
	if raceEnabled {
		return map[string]int{models.SQLite: 1, models.Postgres: 2}[dialect]
	}
	return map[string]int{models.SQLite: 10, models.Postgres: 5}[dialect]
}

// escalationSteps is the number of mutations of one run: enough for a
// token minted early to be used, and for grants handed on twice.
const escalationSteps = 60

// escalationPerms are the permissions the runs grant: those the mutations
// under test ask for, and two that only show what is handed on.
var escalationPerms = []string{
	authz.PermAddUser, authz.PermChangeUser, authz.PermDeleteUser, authz.PermChangeGroup,
	authz.PermAddProject, authz.PermManageMembers, authz.PermViewPage, authz.PermDeleteProject,
}

func escalationSeed(t *testing.T) uint64 {
	s := os.Getenv(envEscalationSeed)
	if s == "" {
		return uint64(time.Now().UnixNano())
	}
	n, err := strconv.ParseUint(s, 10, 64)
	if err != nil {
		t.Fatalf("%s=%q: %v", envEscalationSeed, s, err)
	}
	return n
}

// TestNoEscalationProperty plays random mutations through GraphQL, each by
// a random non-superuser actor with random grants, acting with a random
// token it holds (its own, or one it minted for someone else): createUser,
// updateUser (isActive, isSuperuser), deleteUser, addUserToGroup,
// removeUserFromGroup, grantPerm, revokePerm, grantProjectPerm,
// revokeProjectPerm, createApiToken (for anyone, superusers and inactive
// users included), revokeApiToken and createProject. After each, it holds
// docs/api.md's "no privilege escalation" (Who may act as whom) against the state read back from
// the store:
//   - a user's potential is what its stored flags and stored grants give
//     it once active: everything for a stored superuser, whether active or
//     not, and otherwise its grants, its groups' included;
//   - an actor's reach is the potential of the user of every valid token
//     it holds (its own included);
//   - after a mutation by actor A, every user's potential and every
//     actor's reach is within what it was before, A's reach before, and
//     the projects the mutation created.
//
// Run i uses seed base+i; a failure names its seed, and
// GRANTQL_ESCALATION_SEED=N replays that run first.
func TestNoEscalationProperty(t *testing.T) {
	base := escalationSeed(t)
	t.Logf("seed %d: replay with %s=%d go test ./graph -run TestNoEscalationProperty", base, envEscalationSeed, base)
	dbtest.Run(t, func(t *testing.T, db *models.DB) {
		h := newHarness(t, db)
		perms, err := h.store.Permissions(h.ctx)
		if err != nil {
			t.Fatal(err)
		}
		names := make(map[int64]string, len(perms))
		for _, p := range perms {
			names[p.ID] = p.Key()
		}
		for i := range escalationRuns(db.Dialect) {
			seed := base + uint64(i)
			w := &escWorld{t: t, h: h, seed: seed, permNames: names,
				rnd: rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))}
			w.setUp()
			w.now = w.read()
			for step := range escalationSteps {
				w.step(step)
			}
		}
	})
}

// escToken is an API token a run knows: its id, user, secret, and the
// actor that holds it.
type escToken struct {
	id, user, holder int64
	secret           string
}

// escWorld is one run: the entities it made, and the tokens its actors
// hold.
type escWorld struct {
	t         *testing.T
	h         *harness
	seed      uint64
	rnd       *rand.Rand
	permNames map[int64]string

	users    []int64 // every user of the run, deleted ones too
	special  []int64 // the users an escalation likes best: superusers, inactive users with grants
	actors   []int64
	groups   []int64
	projects []int64
	tokens   []escToken
	log      []string
	// now is the state after the last step.
	now state
}

// potential is what a user may do once active, or what an actor reaches:
// everything, or permissions globally and per project.
type potential struct {
	super    bool
	global   map[string]bool
	projects map[int64]map[string]bool
}

func newPotential() potential {
	return potential{global: map[string]bool{}, projects: map[int64]map[string]bool{}}
}

// add makes p reach what q reaches too.
func (p potential) add(q potential) potential {
	p.super = p.super || q.super
	for g := range q.global {
		p.global[g] = true
	}
	for pr, perms := range q.projects {
		if p.projects[pr] == nil {
			p.projects[pr] = map[string]bool{}
		}
		for perm := range perms {
			p.projects[pr][perm] = true
		}
	}
	return p
}

// has reports whether p reaches perm in project (0: globally).
func (p potential) has(perm string, project int64) bool {
	return p.super || p.global[perm] || project != 0 && p.projects[project][perm]
}

// beyond returns what p reaches that bound does not, outside the projects
// of fresh, in words; "" when nothing.
func (p potential) beyond(bound potential, fresh []int64) string {
	if p.super && !bound.super {
		return "superuser"
	}
	for g := range p.global {
		if !bound.has(g, 0) {
			return g + " globally"
		}
	}
	for pr, perms := range p.projects {
		if slices.Contains(fresh, pr) {
			continue
		}
		for perm := range perms {
			if !bound.has(perm, pr) {
				return fmt.Sprintf("%s in project %d", perm, pr)
			}
		}
	}
	return ""
}

// state is what the store says after a step: every user's potential and
// every actor's reach.
type state struct {
	potential map[int64]potential
	reach     map[int64]potential
}

func (w *escWorld) fatalf(format string, args ...any) {
	w.t.Helper()
	w.t.Fatalf("seed %d (replay with %s=%d): %s\nsteps:\n  %s", w.seed, envEscalationSeed, w.seed,
		fmt.Sprintf(format, args...), strings.Join(w.log, "\n  "))
}

// pick returns a random element of s.
func pick[T any](w *escWorld, s []T) T { return s[w.rnd.IntN(len(s))] }

// somePerms returns each of escalationPerms with probability p.
func (w *escWorld) somePerms(p float64) []string {
	var out []string
	for _, perm := range escalationPerms {
		if w.rnd.Float64() < p {
			out = append(out, perm)
		}
	}
	return out
}

// setUp makes the run's entities through the engine: three projects,
// three groups with random grants, five actors (non-superusers, one
// inactive at times) with random grants and memberships, and four more
// targets: an active and an inactive superuser, and two inactive users
// with grants, directly and through a group.
func (w *escWorld) setUp() {
	t, h := w.t, w.h
	for range 3 {
		w.projects = append(w.projects, h.mustProject(t, "p").ID)
	}
	for range 3 {
		g := h.mustGroup(t, "g", w.somePerms(0.1)...)
		w.groups = append(w.groups, g.ID)
		for _, p := range w.projects {
			h.grantProject(t, authz.Holder{Group: g.ID}, p, w.somePerms(0.15)...)
		}
	}
	for i := range 5 {
		perms := w.somePerms(0.3)
		// auth.change_user is what createApiToken for another user needs:
		// most actors hold it, so that runs reach the covers check.
		if w.rnd.IntN(3) > 0 && !slices.Contains(perms, authz.PermChangeUser) {
			perms = append(perms, authz.PermChangeUser)
		}
		a := h.mustUserFlags(t, "actor", i != 4 || w.rnd.IntN(2) == 0, false, perms...)
		for _, p := range w.projects {
			h.grantProject(t, authz.Holder{User: a.ID}, p, w.somePerms(0.25)...)
		}
		for _, g := range w.groups {
			if w.rnd.IntN(4) == 0 {
				h.join(t, a.ID, g)
			}
		}
		w.users = append(w.users, a.ID)
		w.actors = append(w.actors, a.ID)
		w.tokens = append(w.tokens, escToken{id: a.TokenID, user: a.ID, holder: a.ID, secret: a.Token})
	}
	for _, s := range []struct{ active, super bool }{{true, true}, {false, true}, {false, false}, {false, false}} {
		u := h.mustUserFlags(t, "target", s.active, s.super)
		w.users = append(w.users, u.ID)
		w.special = append(w.special, u.ID)
	}
	inactive := w.special[2]
	for _, perm := range w.somePerms(0.3) {
		if err := h.engine.GrantPerm(h.ctx, authz.Holder{User: inactive}, perm); err != nil {
			t.Fatal(err)
		}
	}
	h.grantProject(t, authz.Holder{User: inactive}, w.projects[0], w.somePerms(0.3)...)
	h.join(t, w.special[3], pick(w, w.groups))
	w.users = append(w.users, h.root.ID)
}

// target returns a random user, a special one as often as any other.
func (w *escWorld) target() int64 {
	if w.rnd.IntN(2) == 0 {
		return pick(w, w.special)
	}
	return pick(w, w.users)
}

// holder returns a random user or group as GraphQL arguments.
func (w *escWorld) holder() string {
	if w.rnd.IntN(3) == 0 {
		return fmt.Sprintf("group: %q", gid(pick(w, w.groups)))
	}
	return fmt.Sprintf("user: %q", gid(w.target()))
}

// mutation returns a random mutation document, and the user of
// createApiToken.
func (w *escWorld) mutation() (doc string, tokenUser int64) {
	perm, project := pick(w, escalationPerms), pick(w, w.projects)
	switch w.rnd.IntN(14) {
	case 0:
		return fmt.Sprintf(`mutation { createUser(input: {username: %q, isActive: %v, isSuperuser: %v}) { id } }`,
			dbtest.Name("new"), w.rnd.IntN(4) > 0, w.rnd.IntN(4) == 0), 0
	case 1:
		if w.rnd.IntN(3) == 0 {
			return fmt.Sprintf(`mutation { updateUser(id: %q, input: {isSuperuser: %v}) { id } }`, gid(w.target()), w.rnd.IntN(2) == 0), 0
		}
		return fmt.Sprintf(`mutation { updateUser(id: %q, input: {isActive: %v}) { id } }`, gid(w.target()), w.rnd.IntN(2) == 0), 0
	case 2:
		return fmt.Sprintf(`mutation { deleteUser(id: %q) }`, gid(w.target())), 0
	case 3:
		return fmt.Sprintf(`mutation { addUserToGroup(user: %q, group: %q) { id } }`, gid(w.target()), gid(pick(w, w.groups))), 0
	case 4:
		return fmt.Sprintf(`mutation { removeUserFromGroup(user: %q, group: %q) { id } }`, gid(w.target()), gid(pick(w, w.groups))), 0
	case 5:
		return fmt.Sprintf(`mutation { grantPerm(perm: %q, %s) }`, perm, w.holder()), 0
	case 6:
		return fmt.Sprintf(`mutation { revokePerm(perm: %q, %s) }`, perm, w.holder()), 0
	case 7:
		return fmt.Sprintf(`mutation { grantProjectPerm(perm: %q, project: %q, %s) { project { id } } }`, perm, gid(project), w.holder()), 0
	case 8:
		return fmt.Sprintf(`mutation { revokeProjectPerm(perm: %q, project: %q, %s) }`, perm, gid(project), w.holder()), 0
	case 9, 10, 11:
		u := w.target()
		return fmt.Sprintf(`mutation { createApiToken(user: %q, name: "t") { id token } }`, gid(u)), u
	case 12:
		return fmt.Sprintf(`mutation { revokeApiToken(id: %q) }`, gid(pick(w, w.tokens).id)), 0
	default:
		return fmt.Sprintf(`mutation { createProject(name: %q) { id } }`, dbtest.Name("p")), 0
	}
}

// step plays one random mutation by a random actor, with a random token
// the actor holds, and holds the property.
func (w *escWorld) step(i int) {
	w.t.Helper()
	before := w.now
	actor := pick(w, w.actors)
	var held []escToken
	for _, tok := range w.tokens {
		if tok.holder == actor {
			held = append(held, tok)
		}
	}
	tok := held[0]
	if len(held) > 1 && w.rnd.IntN(2) == 0 {
		tok = pick(w, held[1:])
	}
	q, tokenUser := w.mutation()
	res := w.h.do(w.t, tok.secret, q)
	outcome := "allowed"
	if len(res.Errors) > 0 {
		outcome = res.Errors[0].code()
	}
	w.log = append(w.log, fmt.Sprintf("%d: actor %d as user %d: %s → %s", i, actor, tok.user, q, outcome))
	var fresh []int64
	if outcome == "allowed" {
		fresh = w.record(actor, tokenUser, res)
	}
	after := w.read()
	w.now = after
	bound := before.reach[actor]
	for u, p := range after.potential {
		if gain := p.beyond(newPotential().add(before.potential[u]).add(bound), fresh); gain != "" {
			w.fatalf("after step %d, user %d may do %s once active, which neither it nor actor %d could before", i, u, gain, actor)
		}
	}
	for x, r := range after.reach {
		if gain := r.beyond(newPotential().add(before.reach[x]).add(bound), fresh); gain != "" {
			w.fatalf("after step %d, actor %d reaches %s through its tokens, which neither it nor actor %d could before", i, x, gain, actor)
		}
	}
}

// record notes what an allowed mutation made: a user, a token of
// tokenUser held by actor, or a project, which it returns.
func (w *escWorld) record(actor, tokenUser int64, res response) (fresh []int64) {
	var data map[string]json.RawMessage
	if err := json.Unmarshal(res.Data, &data); err != nil {
		w.fatalf("decode %s: %v", res.Data, err)
	}
	for field, raw := range data {
		var v struct{ ID, Token string }
		json.Unmarshal(raw, &v) // a Boolean answer has neither
		id, _ := strconv.ParseInt(v.ID, 10, 64)
		switch field {
		case "createUser":
			w.users = append(w.users, id)
		case "createApiToken":
			w.tokens = append(w.tokens, escToken{id: id, user: tokenUser, holder: actor, secret: v.Token})
		case "createProject":
			w.projects = append(w.projects, id)
			fresh = append(fresh, id)
		}
	}
	return fresh
}

// read reads every user's potential and every actor's reach back from the
// store.
func (w *escWorld) read() state {
	w.t.Helper()
	h := w.h
	s := state{potential: map[int64]potential{}, reach: map[int64]potential{}}
	valid := map[int64]bool{}
	for _, u := range w.users {
		p := newPotential()
		s.potential[u] = p
		user, err := h.store.User(h.ctx, u)
		if errors.Is(err, authz.ErrNotFound) {
			continue
		}
		if err != nil {
			w.fatalf("User(%d) = %v", u, err)
		}
		p.super = user.IsSuperuser
		held, err := h.store.HolderGrants(h.ctx, authz.Holder{User: u})
		if err != nil {
			w.fatalf("HolderGrants(%d) = %v", u, err)
		}
		for _, id := range held.Global {
			p.global[w.permNames[id]] = true
		}
		for pr, ids := range held.Projects {
			p.projects[pr] = map[string]bool{}
			for _, id := range ids {
				p.projects[pr][w.permNames[id]] = true
			}
		}
		s.potential[u] = p
		tokens, err := h.store.Tokens(h.ctx, u)
		if err != nil {
			w.fatalf("Tokens(%d) = %v", u, err)
		}
		for _, tok := range tokens {
			valid[tok.ID] = tok.RevokedAt == nil
		}
	}
	for _, a := range w.actors {
		s.reach[a] = newPotential()
	}
	for _, tok := range w.tokens {
		if valid[tok.id] {
			s.reach[tok.holder] = s.reach[tok.holder].add(s.potential[tok.user])
		}
	}
	return s
}
