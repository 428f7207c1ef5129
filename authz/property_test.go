package authz_test

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"math/rand/v2"
	"os"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	"github.com/grantql/grantql/authz"
	"github.com/grantql/grantql/internal/dbtest"
	"github.com/grantql/grantql/models"
)

// envPropertySeed names the variable that fixes the seed of
// TestEngineMatchesReference, as the -seed flag does.
const envPropertySeed = "GRANTQL_PROPERTY_SEED"

var propertySeedFlag = flag.String("seed", "",
	"seed of TestEngineMatchesReference's first dataset (default: $"+envPropertySeed+", else the clock)")

// propertyDatasets is how many random datasets each dialect checks: enough
// on SQLite to meet the rare shapes (an inactive superuser in a group that
// holds a grant, a project created by a user deleted later), and a tenth of
// that on PostgreSQL, whose round trips cost more, to catch dialect
// differences in the reverse statements. The race detector slows the
// pure-Go SQLite driver about 25 times (a dataset takes some 4 seconds), so
// a -race run checks far fewer: it is there for data races, not for
// coverage of the data.
func propertyDatasets(dialect string) int {
	if raceEnabled {
		return map[string]int{models.SQLite: 10, models.Postgres: 5}[dialect]
	}
	return map[string]int{models.SQLite: 200, models.Postgres: 20}[dialect]
}

// builtinPerms is the registry that the migrations install. It is the
// reference's own copy, so that the reference never asks the engine.
var builtinPerms = func() []string {
	ps := []string{
		"projects.add_project", "projects.change_project", "projects.delete_project", "projects.view_project",
		"projects.add_page", "projects.change_page", "projects.delete_page", "projects.view_page",
		"projects.publish_page", "projects.manage_members",
		"auth.add_user", "auth.change_user", "auth.delete_user", "auth.view_user",
		"auth.add_group", "auth.change_group", "auth.delete_group", "auth.view_group",
		"authz.view_decisionlog", "authz.change_rule",
	}
	slices.Sort(ps)
	return ps
}()

func propertySeed(t *testing.T) uint64 {
	s := *propertySeedFlag
	if s == "" {
		s = os.Getenv(envPropertySeed)
	}
	if s == "" {
		return uint64(time.Now().UnixNano())
	}
	n, err := strconv.ParseUint(s, 10, 64)
	if err != nil {
		t.Fatalf("seed %q: %v", s, err)
	}
	return n
}

// TestEngineMatchesReference builds random datasets through the engine and
// holds every answer of the six questions, with and without a request
// cache, to refModel, a naive evaluator of docs/model.md, The decision. Dataset i uses seed
// base+i; a failure names the dataset's seed, and -seed=N (or
// GRANTQL_PROPERTY_SEED=N) replays that dataset first.
func TestEngineMatchesReference(t *testing.T) {
	base := propertySeed(t)
	t.Logf("seed %d: replay with go test ./authz -run TestEngineMatchesReference -seed=%d", base, base)
	dbtest.Run(t, func(t *testing.T, db *models.DB) {
		t.Parallel()
		e := authz.NewEngine(models.NewStore(db))
		for i := range propertyDatasets(db.Dialect) {
			for _, table := range []string{"users", "groups", "projects"} {
				dbtest.MustExec(t, db, "DELETE FROM "+table)
			}
			seed := base + uint64(i)
			r := &propRun{
				t: t, seed: seed, e: e, ref: newRefModel(),
				rnd:       rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15)),
				userNames: map[int64]string{}, groupNames: map[int64]string{}, projectNames: map[int64]string{},
			}
			r.run(context.Background())
		}
	})
}

// refUser is the reference's copy of a user.
type refUser struct {
	name          string
	active, super bool
}

// refHolder is a user or a group: exactly one id is set.
type refHolder struct{ user, group int64 }

func (h refHolder) authz() authz.Holder { return authz.Holder{User: h.user, Group: h.group} }

// refGrant is one grant: global when project is 0.
type refGrant struct {
	holder  refHolder
	perm    string
	project int64
}

type refMembership struct{ user, group int64 }

// refModel is a deliberately naive copy of the dataset as plain maps. It
// answers every question by looping over them, following docs/model.md, The decision, word by
// word, and never calls the engine.
type refModel struct {
	users    map[int64]refUser
	groups   map[int64]string
	projects map[int64]string
	members  map[refMembership]bool
	grants   map[refGrant]bool
}

func newRefModel() *refModel {
	return &refModel{
		users: map[int64]refUser{}, groups: map[int64]string{}, projects: map[int64]string{},
		members: map[refMembership]bool{}, grants: map[refGrant]bool{},
	}
}

func (m *refModel) holderExists(h refHolder) bool {
	if h.user != 0 {
		_, ok := m.users[h.user]
		return ok
	}
	_, ok := m.groups[h.group]
	return ok
}

// deleteUser deletes a user with its grants and memberships (docs/model.md,
// Lifecycle).
func (m *refModel) deleteUser(id int64) {
	delete(m.users, id)
	for g := range m.grants {
		if g.holder.user == id {
			delete(m.grants, g)
		}
	}
	for ms := range m.members {
		if ms.user == id {
			delete(m.members, ms)
		}
	}
}

// deleteGroup deletes a group with its grants and memberships.
func (m *refModel) deleteGroup(id int64) {
	delete(m.groups, id)
	for g := range m.grants {
		if g.holder.group == id {
			delete(m.grants, g)
		}
	}
	for ms := range m.members {
		if ms.group == id {
			delete(m.members, ms)
		}
	}
}

// deleteProject deletes a project with its project grants.
func (m *refModel) deleteProject(id int64) {
	delete(m.projects, id)
	for g := range m.grants {
		if g.project == id {
			delete(m.grants, g)
		}
	}
}

// heldThroughGroup reports whether one of user's groups holds perm in
// project (globally when project is 0).
func (m *refModel) heldThroughGroup(user int64, perm string, project int64) bool {
	for g := range m.groups {
		if m.members[refMembership{user, g}] && m.grants[refGrant{refHolder{group: g}, perm, project}] {
			return true
		}
	}
	return false
}

// grantSources lists where user holds perm from, in decision order (steps 3
// and 4 of docs/model.md, The decision); project 0 asks for the global sources alone.
func (m *refModel) grantSources(user int64, perm string, project int64) []authz.Reason {
	var out []authz.Reason
	if m.grants[refGrant{refHolder{user: user}, perm, 0}] {
		out = append(out, authz.ReasonGlobalUser)
	}
	if m.heldThroughGroup(user, perm, 0) {
		out = append(out, authz.ReasonGlobalGroup)
	}
	if project != 0 {
		if m.grants[refGrant{refHolder{user: user}, perm, project}] {
			out = append(out, authz.ReasonProjectUser)
		}
		if m.heldThroughGroup(user, perm, project) {
			out = append(out, authz.ReasonProjectGroup)
		}
	}
	return out
}

// check is the decision of docs/model.md; project 0 is hasPerm (steps 1–3). notFound
// is true when the user or the project does not exist.
func (m *refModel) check(user int64, perm string, project int64) (d authz.Decision, notFound bool) {
	d = authz.Decision{Perm: perm, Project: project}
	if user == authz.Anonymous {
		d.Reason = authz.ReasonAnonymous
		return d, false
	}
	u, ok := m.users[user]
	if !ok {
		return authz.Decision{}, true
	}
	if project != 0 {
		if _, ok := m.projects[project]; !ok {
			return authz.Decision{}, true
		}
	}
	switch srcs := m.grantSources(user, perm, project); {
	case !u.active:
		d.Reason = authz.ReasonInactive
	case u.super:
		d.Allowed, d.Reason = true, authz.ReasonSuperuser
	case len(srcs) > 0:
		d.Allowed, d.Reason, d.Backend = true, srcs[0], authz.BuiltinBackendName
	default:
		d.Reason = authz.ReasonNoGrant
	}
	return d, false
}

// projectPermissions is every registry permission that check allows.
func (m *refModel) projectPermissions(user, project int64) (perms []string, notFound bool) {
	perms = []string{}
	for _, p := range builtinPerms {
		d, nf := m.check(user, p, project)
		if nf {
			return nil, true
		}
		if d.Allowed {
			perms = append(perms, p)
		}
	}
	return perms, false
}

func sortedKeys[K int64 | string, V any](m map[K]V) []K {
	keys := make([]K, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

// projectsWithPerm is every project, in id order, in which check allows.
func (m *refModel) projectsWithPerm(user int64, perm string) (projects []authz.Project, notFound bool) {
	projects = []authz.Project{}
	if user == authz.Anonymous {
		return projects, false
	}
	if _, ok := m.users[user]; !ok {
		return nil, true
	}
	for _, id := range sortedKeys(m.projects) {
		if d, _ := m.check(user, perm, id); d.Allowed {
			projects = append(projects, authz.Project{ID: id, Name: m.projects[id]})
		}
	}
	return projects, false
}

// usersWithProjectPerm is every active user, in id order, with every source
// of perm in project: SUPERUSER first, then the grant sources.
func (m *refModel) usersWithProjectPerm(perm string, project int64) (users []authz.UserSources, notFound bool) {
	if _, ok := m.projects[project]; !ok {
		return nil, true
	}
	users = []authz.UserSources{}
	for _, id := range sortedKeys(m.users) {
		u := m.users[id]
		if !u.active {
			continue
		}
		var srcs []authz.Reason
		if u.super {
			srcs = append(srcs, authz.ReasonSuperuser)
		}
		srcs = append(srcs, m.grantSources(id, perm, project)...)
		if len(srcs) > 0 {
			users = append(users, authz.UserSources{
				User:    authz.User{ID: id, Username: u.name, IsActive: u.active, IsSuperuser: u.super},
				Sources: srcs,
			})
		}
	}
	return users, false
}

// String lists the dataset, for failure messages.
func (m *refModel) String() string {
	var b strings.Builder
	for _, id := range sortedKeys(m.users) {
		u := m.users[id]
		fmt.Fprintf(&b, "  user %s#%d active=%v super=%v groups=", u.name, id, u.active, u.super)
		for _, g := range sortedKeys(m.groups) {
			if m.members[refMembership{id, g}] {
				fmt.Fprintf(&b, "%s#%d ", m.groups[g], g)
			}
		}
		b.WriteString("\n")
	}
	for _, id := range sortedKeys(m.groups) {
		fmt.Fprintf(&b, "  group %s#%d\n", m.groups[id], id)
	}
	for _, id := range sortedKeys(m.projects) {
		fmt.Fprintf(&b, "  project %s#%d\n", m.projects[id], id)
	}
	var lines []string
	for g := range m.grants {
		holder := fmt.Sprintf("user %s#%d", m.users[g.holder.user].name, g.holder.user)
		if g.holder.group != 0 {
			holder = fmt.Sprintf("group %s#%d", m.groups[g.holder.group], g.holder.group)
		}
		where := "globally"
		if g.project != 0 {
			where = fmt.Sprintf("in project %s#%d", m.projects[g.project], g.project)
		}
		lines = append(lines, fmt.Sprintf("  grant %s to %s %s\n", g.perm, holder, where))
	}
	slices.Sort(lines)
	b.WriteString(strings.Join(lines, ""))
	return b.String()
}

// propRun is one random dataset: it makes every change through the engine
// and the reference alike, and compares their answers.
type propRun struct {
	t    *testing.T
	seed uint64
	rnd  *rand.Rand
	e    *authz.Engine
	ref  *refModel

	perms []string // the permissions this dataset grants
	asked []string // the permissions questions name: perms and one more
	// Every id this dataset created, deleted ones included, in creation
	// order, and the name of each.
	userIDs, groupIDs, projectIDs []int64
	// The names that labels show, "u3#17", "g1#4", "p2#9", one map per
	// kind as each table numbers its rows from 1.
	userNames, groupNames, projectNames map[int64]string
	counter                             int
}

// fatalf fails the test with the dataset's seed and contents.
func (r *propRun) fatalf(format string, args ...any) {
	r.t.Helper()
	r.t.Fatalf("seed %d: %s\ndataset:\n%s", r.seed, fmt.Sprintf(format, args...), r.ref)
}

func (r *propRun) run(ctx context.Context) {
	shuffled := slices.Clone(builtinPerms)
	r.rnd.Shuffle(len(shuffled), func(i, j int) { shuffled[i], shuffled[j] = shuffled[j], shuffled[i] })
	r.perms = shuffled[:5]
	r.asked = shuffled[:6]

	r.build(ctx)
	if r.chance(10) {
		r.compareAll(ctx, "after build")
	}
	for range 8 + r.rnd.IntN(12) {
		r.randomChange(ctx)
	}
	r.compareAll(ctx, "after changes")
	r.requestCache(ctx)
}

func pick[T any](r *propRun, s []T) T { return s[r.rnd.IntN(len(s))] }

func (r *propRun) chance(percent int) bool { return r.rnd.IntN(100) < percent }

func label(names map[int64]string, id int64) string {
	if n, ok := names[id]; ok {
		return n
	}
	return fmt.Sprintf("#%d", id)
}

func (r *propRun) holderLabel(h refHolder) string {
	if h.user != 0 {
		return "user " + r.userLabel(h.user)
	}
	return "group " + r.groupLabel(h.group)
}

func (r *propRun) userLabel(id int64) string {
	if id == authz.Anonymous {
		return "anonymous"
	}
	s := label(r.userNames, id)
	if _, ok := r.ref.users[id]; !ok {
		s += "(deleted)"
	}
	return s
}

func (r *propRun) groupLabel(id int64) string {
	s := label(r.groupNames, id)
	if _, ok := r.ref.groups[id]; !ok {
		s += "(deleted)"
	}
	return s
}

func (r *propRun) projectLabel(id int64) string {
	s := label(r.projectNames, id)
	if _, ok := r.ref.projects[id]; !ok {
		s += "(deleted)"
	}
	return s
}

func (r *propRun) nextName(prefix string) string {
	r.counter++
	return fmt.Sprintf("%s%d", prefix, r.counter)
}

// build creates a small dataset: 4–8 users, 2–3 groups, 3 projects, random
// memberships and grants of every kind, a few of them given twice.
func (r *propRun) build(ctx context.Context) {
	for range 4 + r.rnd.IntN(5) {
		r.createUser(ctx)
	}
	for range 2 + r.rnd.IntN(2) {
		r.createGroup(ctx)
	}
	for range 3 {
		r.createProject(ctx)
	}
	for _, u := range r.userIDs {
		for _, g := range r.groupIDs {
			if r.chance(40) {
				r.addMember(ctx, u, g)
			}
		}
	}
	var holders []refHolder
	for _, u := range r.userIDs {
		holders = append(holders, refHolder{user: u})
	}
	for _, g := range r.groupIDs {
		holders = append(holders, refHolder{group: g})
	}
	for _, h := range holders {
		for _, p := range r.perms {
			if r.chance(10) {
				r.grant(ctx, refGrant{h, p, 0})
			}
			for _, x := range r.projectIDs {
				if r.chance(8) {
					r.grant(ctx, refGrant{h, p, x})
				}
			}
		}
	}
	for _, g := range r.sortedGrants() {
		if r.chance(10) {
			r.grant(ctx, g) // granting again changes nothing
		}
	}
}

// sortedGrants returns the reference's grants in a fixed order, so that a
// seed picks the same ones on every run.
func (r *propRun) sortedGrants() []refGrant {
	gs := make([]refGrant, 0, len(r.ref.grants))
	for g := range r.ref.grants {
		gs = append(gs, g)
	}
	slices.SortFunc(gs, func(a, b refGrant) int {
		return cmpAll(cmpInt(a.holder.user, b.holder.user), cmpInt(a.holder.group, b.holder.group),
			strings.Compare(a.perm, b.perm), cmpInt(a.project, b.project))
	})
	return gs
}

func (r *propRun) sortedMemberships() []refMembership {
	ms := make([]refMembership, 0, len(r.ref.members))
	for m := range r.ref.members {
		ms = append(ms, m)
	}
	slices.SortFunc(ms, func(a, b refMembership) int {
		return cmpAll(cmpInt(a.user, b.user), cmpInt(a.group, b.group))
	})
	return ms
}

func cmpInt(a, b int64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

func cmpAll(cs ...int) int {
	for _, c := range cs {
		if c != 0 {
			return c
		}
	}
	return 0
}

func (r *propRun) randomHolder() refHolder {
	if r.chance(50) {
		return refHolder{user: pick(r, r.userIDs)}
	}
	return refHolder{group: pick(r, r.groupIDs)}
}

// randomChange makes one random change, most often a revocation, a
// membership removal or a deletion, sometimes naming an id that is gone.
func (r *propRun) randomChange(ctx context.Context) {
	switch k := r.rnd.IntN(100); {
	case k < 22:
		if gs := r.sortedGrants(); len(gs) > 0 {
			r.revoke(ctx, pick(r, gs))
		}
	case k < 27:
		project := int64(0)
		if r.chance(50) {
			project = pick(r, r.projectIDs)
		}
		r.revoke(ctx, refGrant{r.randomHolder(), pick(r, r.perms), project})
	case k < 38:
		if ms := r.sortedMemberships(); len(ms) > 0 {
			m := pick(r, ms)
			r.removeMember(ctx, m.user, m.group)
		}
	case k < 41:
		r.removeMember(ctx, pick(r, r.userIDs), pick(r, r.groupIDs))
	case k < 47:
		r.deleteUser(ctx, pick(r, r.userIDs))
	case k < 52:
		r.deleteGroup(ctx, pick(r, r.groupIDs))
	case k < 57:
		r.deleteProject(ctx, pick(r, r.projectIDs))
	case k < 65:
		r.updateUser(ctx, pick(r, r.userIDs))
	case k < 77:
		r.grant(ctx, refGrant{r.randomHolder(), pick(r, r.perms), pick(r, r.projectIDs)})
	case k < 85:
		r.grant(ctx, refGrant{r.randomHolder(), pick(r, r.perms), 0})
	case k < 92:
		r.addMember(ctx, pick(r, r.userIDs), pick(r, r.groupIDs))
	case k < 95:
		r.createUser(ctx)
	case k < 97:
		r.createGroup(ctx)
	default:
		r.createProject(ctx)
	}
}

func (r *propRun) createUser(ctx context.Context) {
	r.t.Helper()
	name := r.nextName("u")
	active, super := r.chance(80), r.chance(20)
	u, err := r.e.CreateUser(ctx, name, active, super)
	if err != nil {
		r.fatalf("CreateUser(%s, %v, %v) error = %v, want nil", name, active, super, err)
	}
	want := authz.User{ID: u.ID, Username: name, IsActive: active, IsSuperuser: super}
	if diff := cmp.Diff(want, u, cmpopts.IgnoreFields(authz.User{}, "CreatedAt")); diff != "" {
		r.fatalf("CreateUser(%s, %v, %v) mismatch (-want +got):\n%s", name, active, super, diff)
	}
	r.ref.users[u.ID] = refUser{name: name, active: active, super: super}
	r.userIDs = append(r.userIDs, u.ID)
	r.userNames[u.ID] = fmt.Sprintf("%s#%d", name, u.ID)
}

func (r *propRun) createGroup(ctx context.Context) {
	r.t.Helper()
	name := r.nextName("g")
	g, err := r.e.CreateGroup(ctx, name)
	if err != nil || g.Name != name {
		r.fatalf("CreateGroup(%s) = %+v, %v, want the group, nil", name, g, err)
	}
	r.ref.groups[g.ID] = name
	r.groupIDs = append(r.groupIDs, g.ID)
	r.groupNames[g.ID] = fmt.Sprintf("%s#%d", name, g.ID)
}

// createProject creates a project, a quarter of the time with a creator,
// who then holds every permission of the projects app in it.
func (r *propRun) createProject(ctx context.Context) {
	r.t.Helper()
	name := r.nextName("p")
	creator := int64(0)
	if r.chance(25) {
		creator = pick(r, r.userIDs)
	}
	_, creatorExists := r.ref.users[creator]
	p, err := r.e.CreateProject(ctx, name, creator)
	if creator != 0 && !creatorExists {
		if !errors.Is(err, authz.ErrNotFound) {
			r.fatalf("CreateProject(%s, %s) error = %v, want %v", name, r.userLabel(creator), err, authz.ErrNotFound)
		}
		return
	}
	if err != nil || p.Name != name {
		r.fatalf("CreateProject(%s, %s) = %+v, %v, want the project, nil", name, r.userLabel(creator), p, err)
	}
	r.ref.projects[p.ID] = name
	r.projectIDs = append(r.projectIDs, p.ID)
	r.projectNames[p.ID] = fmt.Sprintf("%s#%d", name, p.ID)
	if creator != 0 {
		for _, perm := range builtinPerms {
			if strings.HasPrefix(perm, authz.CreatorAppLabel+".") {
				r.ref.grants[refGrant{refHolder{user: creator}, perm, p.ID}] = true
			}
		}
	}
}

func (r *propRun) grantLabel(g refGrant) string {
	if g.project == 0 {
		return fmt.Sprintf("GrantPerm(%s, %s)", r.holderLabel(g.holder), g.perm)
	}
	return fmt.Sprintf("GrantProjectPerm(%s, %s, %s)", r.holderLabel(g.holder), g.perm, r.projectLabel(g.project))
}

// grant gives g through the engine; a holder or project that is gone must
// answer ErrNotFound and change nothing.
func (r *propRun) grant(ctx context.Context, g refGrant) {
	r.t.Helper()
	_, projectExists := r.ref.projects[g.project]
	exists := r.ref.holderExists(g.holder) && (g.project == 0 || projectExists)
	var err error
	if g.project == 0 {
		err = r.e.GrantPerm(ctx, g.holder.authz(), g.perm)
	} else {
		err = r.e.GrantProjectPerm(ctx, g.holder.authz(), g.perm, g.project)
	}
	switch {
	case !exists && !errors.Is(err, authz.ErrNotFound):
		r.fatalf("%s error = %v, want %v", r.grantLabel(g), err, authz.ErrNotFound)
	case exists && err != nil:
		r.fatalf("%s error = %v, want nil", r.grantLabel(g), err)
	case exists:
		r.ref.grants[g] = true
	}
}

// revoke takes g back through the engine, which must say whether it held.
func (r *propRun) revoke(ctx context.Context, g refGrant) {
	r.t.Helper()
	_, projectExists := r.ref.projects[g.project]
	exists := r.ref.holderExists(g.holder) && (g.project == 0 || projectExists)
	want := r.ref.grants[g]
	var (
		got bool
		err error
		fn  = fmt.Sprintf("RevokePerm(%s, %s)", r.holderLabel(g.holder), g.perm)
	)
	if g.project == 0 {
		got, err = r.e.RevokePerm(ctx, g.holder.authz(), g.perm)
	} else {
		fn = fmt.Sprintf("RevokeProjectPerm(%s, %s, %s)", r.holderLabel(g.holder), g.perm, r.projectLabel(g.project))
		got, err = r.e.RevokeProjectPerm(ctx, g.holder.authz(), g.perm, g.project)
	}
	switch {
	case !exists && !errors.Is(err, authz.ErrNotFound):
		r.fatalf("%s error = %v, want %v", fn, err, authz.ErrNotFound)
	case exists && (err != nil || got != want):
		r.fatalf("%s = %v, %v, want %v, nil", fn, got, err, want)
	}
	delete(r.ref.grants, g)
}

func (r *propRun) addMember(ctx context.Context, user, group int64) {
	r.t.Helper()
	_, userExists := r.ref.users[user]
	_, groupExists := r.ref.groups[group]
	err := r.e.AddUserToGroup(ctx, user, group)
	switch {
	case !(userExists && groupExists) && !errors.Is(err, authz.ErrNotFound):
		r.fatalf("AddUserToGroup(%s, %s) error = %v, want %v", r.userLabel(user), r.groupLabel(group), err, authz.ErrNotFound)
	case userExists && groupExists && err != nil:
		r.fatalf("AddUserToGroup(%s, %s) error = %v, want nil", r.userLabel(user), r.groupLabel(group), err)
	case userExists && groupExists:
		r.ref.members[refMembership{user, group}] = true
	}
}

func (r *propRun) removeMember(ctx context.Context, user, group int64) {
	r.t.Helper()
	_, userExists := r.ref.users[user]
	_, groupExists := r.ref.groups[group]
	want := r.ref.members[refMembership{user, group}]
	got, err := r.e.RemoveUserFromGroup(ctx, user, group)
	switch {
	case !(userExists && groupExists) && !errors.Is(err, authz.ErrNotFound):
		r.fatalf("RemoveUserFromGroup(%s, %s) error = %v, want %v", r.userLabel(user), r.groupLabel(group), err, authz.ErrNotFound)
	case userExists && groupExists && (err != nil || got != want):
		r.fatalf("RemoveUserFromGroup(%s, %s) = %v, %v, want %v, nil", r.userLabel(user), r.groupLabel(group), got, err, want)
	}
	delete(r.ref.members, refMembership{user, group})
}

func (r *propRun) deleteUser(ctx context.Context, id int64) {
	r.t.Helper()
	_, want := r.ref.users[id]
	label := r.userLabel(id)
	if got, err := r.e.DeleteUser(ctx, id); err != nil || got != want {
		r.fatalf("DeleteUser(%s) = %v, %v, want %v, nil", label, got, err, want)
	}
	r.ref.deleteUser(id)
}

func (r *propRun) deleteGroup(ctx context.Context, id int64) {
	r.t.Helper()
	_, want := r.ref.groups[id]
	label := r.groupLabel(id)
	if got, err := r.e.DeleteGroup(ctx, id); err != nil || got != want {
		r.fatalf("DeleteGroup(%s) = %v, %v, want %v, nil", label, got, err, want)
	}
	r.ref.deleteGroup(id)
}

func (r *propRun) deleteProject(ctx context.Context, id int64) {
	r.t.Helper()
	_, want := r.ref.projects[id]
	label := r.projectLabel(id)
	if got, err := r.e.DeleteProject(ctx, id); err != nil || got != want {
		r.fatalf("DeleteProject(%s) = %v, %v, want %v, nil", label, got, err, want)
	}
	r.ref.deleteProject(id)
}

// updateUser flips one or both flags of a user, or neither.
func (r *propRun) updateUser(ctx context.Context, id int64) {
	r.t.Helper()
	var active, super *bool
	if r.chance(60) {
		b := r.chance(60)
		active = &b
	}
	if r.chance(60) {
		b := r.chance(40)
		super = &b
	}
	fn := fmt.Sprintf("UpdateUser(%s, %s, %s)", r.userLabel(id), flagString(active), flagString(super))
	u, exists := r.ref.users[id]
	got, err := r.e.UpdateUser(ctx, id, active, super)
	if !exists {
		if !errors.Is(err, authz.ErrNotFound) {
			r.fatalf("%s error = %v, want %v", fn, err, authz.ErrNotFound)
		}
		return
	}
	if active != nil {
		u.active = *active
	}
	if super != nil {
		u.super = *super
	}
	want := authz.User{ID: id, Username: u.name, IsActive: u.active, IsSuperuser: u.super}
	if err != nil {
		r.fatalf("%s error = %v, want nil", fn, err)
	}
	if diff := cmp.Diff(want, got, cmpopts.IgnoreFields(authz.User{}, "CreatedAt")); diff != "" {
		r.fatalf("%s mismatch (-want +got):\n%s", fn, diff)
	}
	r.ref.users[id] = u
}

func flagString(b *bool) string {
	if b == nil {
		return "nil"
	}
	return strconv.FormatBool(*b)
}

// liveProjects returns the projects that exist, in id order.
func (r *propRun) liveProjects() []int64 { return sortedKeys(r.ref.projects) }

// askedUsers is every user a question names: anonymous, and every user the
// dataset created, deleted ones included.
func (r *propRun) askedUsers() []int64 { return append([]int64{authz.Anonymous}, r.userIDs...) }

// compareAll holds every answer of the six questions to the reference.
// Half of the users are asked their decision questions through a request
// cache of their own.
func (r *propRun) compareAll(ctx context.Context, when string) {
	r.t.Helper()
	r.compareDecisions(ctx, when, 50)
	r.compareProjectsWithPerm(ctx, when)
	r.compareUsersWithProjectPerm(ctx, when)
}

// compareDecisions holds HasPerm, HasProjectPerm, ProjectPermissions and
// CheckMany to the reference, for every user, asked permission and
// project, deleted ones included (anonymous is asked about projects that
// exist only). cachePercent of the users are asked through a new request
// cache each.
func (r *propRun) compareDecisions(ctx context.Context, when string, cachePercent int) {
	r.t.Helper()
	outer := when
	for _, u := range r.askedUsers() {
		ctx, when := ctx, outer
		if r.chance(cachePercent) {
			ctx, when = authz.WithRequestCache(ctx), outer+", request cache"
		}
		projects := r.projectIDs
		if u == authz.Anonymous {
			projects = r.liveProjects()
		}
		for _, p := range r.asked {
			d, err := r.e.HasPerm(ctx, u, p)
			r.compareDecision(fmt.Sprintf("%s: HasPerm(%s, %s)", when, r.userLabel(u), p), u, p, 0, d, err)
			for _, x := range projects {
				d, err := r.e.HasProjectPerm(ctx, u, p, x)
				r.compareDecision(fmt.Sprintf("%s: HasProjectPerm(%s, %s, %s)", when, r.userLabel(u), p, r.projectLabel(x)), u, p, x, d, err)
			}
		}
		for _, x := range projects {
			fn := fmt.Sprintf("%s: ProjectPermissions(%s, %s)", when, r.userLabel(u), r.projectLabel(x))
			want, notFound := r.ref.projectPermissions(u, x)
			got, err := r.e.ProjectPermissions(ctx, u, x)
			switch {
			case notFound && !errors.Is(err, authz.ErrNotFound):
				r.fatalf("%s = %v, %v, want error %v", fn, got, err, authz.ErrNotFound)
			case !notFound && err != nil:
				r.fatalf("%s error = %v, want nil", fn, err)
			case !notFound:
				if diff := cmp.Diff(want, got, cmpopts.EquateEmpty()); diff != "" {
					r.fatalf("%s mismatch (-want +got):\n%s", fn, diff)
				}
			}
		}
		r.compareCheckMany(ctx, when, u)
	}
}

func (r *propRun) compareDecision(fn string, user int64, perm string, project int64, got authz.Decision, err error) {
	r.t.Helper()
	want, notFound := r.ref.check(user, perm, project)
	switch {
	case notFound && (!errors.Is(err, authz.ErrNotFound) || got.Allowed):
		r.fatalf("%s = %+v, %v, want a deny and error %v", fn, got, err, authz.ErrNotFound)
	case !notFound && err != nil:
		r.fatalf("%s error = %v, want nil", fn, err)
	case !notFound && got != want:
		r.fatalf("%s = %+v, want %+v", fn, got, want)
	}
}

// compareCheckMany asks, in one batch and in random order, every asked
// permission globally and in every project that exists, some twice; then,
// when a project is gone, the same batch naming it, which must fail whole.
func (r *propRun) compareCheckMany(ctx context.Context, when string, user int64) {
	r.t.Helper()
	var reqs []authz.CheckRequest
	for _, p := range r.asked {
		reqs = append(reqs, authz.CheckRequest{Perm: p})
		for _, x := range r.liveProjects() {
			reqs = append(reqs, authz.CheckRequest{Perm: p, Project: x})
		}
	}
	reqs = append(reqs, reqs[r.rnd.IntN(len(reqs))])
	r.rnd.Shuffle(len(reqs), func(i, j int) { reqs[i], reqs[j] = reqs[j], reqs[i] })
	fn := fmt.Sprintf("%s: CheckMany(%s, %d requests)", when, r.userLabel(user), len(reqs))
	got, err := r.e.CheckMany(ctx, user, reqs)
	if _, exists := r.ref.users[user]; !exists && user != authz.Anonymous {
		if !errors.Is(err, authz.ErrNotFound) {
			r.fatalf("%s = %+v, %v, want error %v", fn, got, err, authz.ErrNotFound)
		}
		return
	}
	if err != nil {
		r.fatalf("%s error = %v, want nil", fn, err)
	}
	want := make([]authz.Decision, len(reqs))
	for i, q := range reqs {
		want[i], _ = r.ref.check(user, q.Perm, q.Project)
	}
	if diff := cmp.Diff(want, got); diff != "" {
		r.fatalf("%s mismatch (-want +got):\n%s", fn, diff)
	}
	if user == authz.Anonymous {
		return
	}
	for _, x := range r.projectIDs {
		if _, exists := r.ref.projects[x]; exists {
			continue
		}
		i := r.rnd.IntN(len(reqs) + 1)
		bad := slices.Insert(slices.Clone(reqs), i, authz.CheckRequest{Perm: pick(r, r.asked), Project: x})
		if got, err := r.e.CheckMany(ctx, user, bad); !errors.Is(err, authz.ErrNotFound) {
			r.fatalf("%s: CheckMany(%s, %d requests with %s at %d) = %+v, %v, want error %v",
				when, r.userLabel(user), len(bad), r.projectLabel(x), i, got, err, authz.ErrNotFound)
		}
		break
	}
}

// refPage cuts the page of items with id > after that First asks for.
func refPage[T any](items []T, id func(T) int64, after int64, first int) (page []T, hasNext bool) {
	i := 0
	for i < len(items) && id(items[i]) <= after {
		i++
	}
	end := min(i+first, len(items))
	return items[i:end], end < len(items)
}

var ignoreCreatedAt = cmp.Options{
	cmpopts.IgnoreFields(authz.Project{}, "CreatedAt"),
	cmpopts.IgnoreFields(authz.User{}, "CreatedAt"),
	cmpopts.EquateEmpty(),
}

// compareProjectsWithPerm walks every page of ProjectsWithPerm, with a small
// random First (2 or 3), for every user and asked permission, compares the
// total count, and one time in five asks one more page from a random After.
func (r *propRun) compareProjectsWithPerm(ctx context.Context, when string) {
	r.t.Helper()
	projectID := func(p authz.Project) int64 { return p.ID }
	maxID := slices.Max(r.projectIDs)
	for _, u := range r.askedUsers() {
		for _, p := range r.asked {
			want, notFound := r.ref.projectsWithPerm(u, p)
			first := 2 + r.rnd.IntN(2)
			fn := func(after int64) string {
				return fmt.Sprintf("%s: ProjectsWithPerm(%s, %s, first %d after %d)", when, r.userLabel(u), p, first, after)
			}
			count, countErr := r.e.CountProjectsWithPerm(ctx, u, p)
			cfn := fmt.Sprintf("%s: CountProjectsWithPerm(%s, %s)", when, r.userLabel(u), p)
			if notFound {
				if _, err := r.e.ProjectsWithPerm(ctx, u, p, authz.PageRequest{First: first}); !errors.Is(err, authz.ErrNotFound) {
					r.fatalf("%s error = %v, want %v", fn(0), err, authz.ErrNotFound)
				}
				if !errors.Is(countErr, authz.ErrNotFound) {
					r.fatalf("%s = %d, %v, want error %v", cfn, count, countErr, authz.ErrNotFound)
				}
				continue
			}
			if countErr != nil || count != len(want) {
				r.fatalf("%s = %d, %v, want %d, nil", cfn, count, countErr, len(want))
			}
			for after := int64(0); ; {
				page, err := r.e.ProjectsWithPerm(ctx, u, p, authz.PageRequest{First: first, After: after})
				if err != nil {
					r.fatalf("%s error = %v, want nil", fn(after), err)
				}
				wantPage, wantNext := refPage(want, projectID, after, first)
				if diff := cmp.Diff(wantPage, page.Projects, ignoreCreatedAt); diff != "" {
					r.fatalf("%s mismatch (-want +got):\n%s", fn(after), diff)
				}
				if page.HasNextPage != wantNext {
					r.fatalf("%s HasNextPage = %v, want %v", fn(after), page.HasNextPage, wantNext)
				}
				if !page.HasNextPage {
					break
				}
				after = page.Projects[len(page.Projects)-1].ID
			}
			if !r.chance(20) {
				continue
			}
			after := r.rnd.Int64N(maxID + 2)
			page, err := r.e.ProjectsWithPerm(ctx, u, p, authz.PageRequest{First: first, After: after})
			wantPage, wantNext := refPage(want, projectID, after, first)
			if err != nil || page.HasNextPage != wantNext {
				r.fatalf("%s = HasNextPage %v, %v, want %v, nil", fn(after), page.HasNextPage, err, wantNext)
			}
			if diff := cmp.Diff(wantPage, page.Projects, ignoreCreatedAt); diff != "" {
				r.fatalf("%s mismatch (-want +got):\n%s", fn(after), diff)
			}
		}
	}
}

// compareUsersWithProjectPerm walks every page of UsersWithProjectPerm, with
// a small random First (2 or 3), for every project (deleted ones included) and asked
// permission, and compares the total count.
func (r *propRun) compareUsersWithProjectPerm(ctx context.Context, when string) {
	r.t.Helper()
	userID := func(u authz.UserSources) int64 { return u.User.ID }
	for _, x := range r.projectIDs {
		for _, p := range r.asked {
			want, notFound := r.ref.usersWithProjectPerm(p, x)
			first := 2 + r.rnd.IntN(2)
			fn := func(after int64) string {
				return fmt.Sprintf("%s: UsersWithProjectPerm(%s, %s, first %d after %d)", when, p, r.projectLabel(x), first, after)
			}
			count, countErr := r.e.CountUsersWithProjectPerm(ctx, p, x)
			cfn := fmt.Sprintf("%s: CountUsersWithProjectPerm(%s, %s)", when, p, r.projectLabel(x))
			if notFound {
				if _, err := r.e.UsersWithProjectPerm(ctx, p, x, authz.PageRequest{First: first}); !errors.Is(err, authz.ErrNotFound) {
					r.fatalf("%s error = %v, want %v", fn(0), err, authz.ErrNotFound)
				}
				if !errors.Is(countErr, authz.ErrNotFound) {
					r.fatalf("%s = %d, %v, want error %v", cfn, count, countErr, authz.ErrNotFound)
				}
				continue
			}
			if countErr != nil || count != len(want) {
				r.fatalf("%s = %d, %v, want %d, nil", cfn, count, countErr, len(want))
			}
			for after := int64(0); ; {
				page, err := r.e.UsersWithProjectPerm(ctx, p, x, authz.PageRequest{First: first, After: after})
				if err != nil {
					r.fatalf("%s error = %v, want nil", fn(after), err)
				}
				wantPage, wantNext := refPage(want, userID, after, first)
				if diff := cmp.Diff(wantPage, page.Users, ignoreCreatedAt); diff != "" {
					r.fatalf("%s mismatch (-want +got):\n%s", fn(after), diff)
				}
				if page.HasNextPage != wantNext {
					r.fatalf("%s HasNextPage = %v, want %v", fn(after), page.HasNextPage, wantNext)
				}
				if !page.HasNextPage {
					break
				}
				after = page.Users[len(page.Users)-1].User.ID
			}
		}
	}
}

// requestCache asks the decision questions again through one request
// cache, makes a grant in that request and checks that the next check sees
// it, then makes random changes in the same request, each followed by every
// decision question.
func (r *propRun) requestCache(ctx context.Context) {
	r.t.Helper()
	cctx := authz.WithRequestCache(ctx)
	r.compareDecisions(cctx, "shared request cache, cold", 0)
	r.compareDecisions(cctx, "shared request cache, warm", 0)

	type triple struct {
		user    int64
		perm    string
		project int64
	}
	var denied []triple
	for _, u := range sortedKeys(r.ref.users) {
		for _, p := range r.perms {
			for _, x := range r.liveProjects() {
				if d, _ := r.ref.check(u, p, x); d.Reason == authz.ReasonNoGrant {
					denied = append(denied, triple{u, p, x})
				}
			}
		}
	}
	if len(denied) > 0 {
		c := pick(r, denied)
		fn := fmt.Sprintf("request cache: HasProjectPerm(%s, %s, %s)", r.userLabel(c.user), c.perm, r.projectLabel(c.project))
		d, err := r.e.HasProjectPerm(cctx, c.user, c.perm, c.project)
		r.compareDecision(fn+" before the grant", c.user, c.perm, c.project, d, err)
		h := refHolder{user: c.user}
		if len(r.ref.groups) > 0 && r.chance(50) {
			// Through a group the user joins in the same request.
			g := pick(r, sortedKeys(r.ref.groups))
			r.addMember(cctx, c.user, g)
			h = refHolder{group: g}
		}
		r.grant(cctx, refGrant{h, c.perm, c.project})
		d, err = r.e.HasProjectPerm(cctx, c.user, c.perm, c.project)
		if !d.Allowed {
			r.fatalf("%s after %s = %+v, %v, want allowed", fn, r.grantLabel(refGrant{h, c.perm, c.project}), d, err)
		}
		r.compareDecision(fn+" after the grant", c.user, c.perm, c.project, d, err)
	}
	for range 2 {
		r.randomChange(cctx)
		r.compareDecisions(cctx, "shared request cache, after a change in the request", 0)
	}
}
