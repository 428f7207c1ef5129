package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"slices"
	"strconv"
	"time"

	"github.com/grantql/grantql/authz"
	"github.com/grantql/grantql/internal/workload"
	"github.com/grantql/grantql/models"
)

// The seed command's defaults are the dataset of docs/benchmarks.md (models.LargeBulkSpec)
// with pages: 50 projects of 120 pages, so that a guarded list of 100 pages
// has a next page and has 50 projects to be spread over.
const (
	defaultPageProjects    = 50
	defaultPagesPerProject = 120
	// defaultChecks is enough distinct checks that a run of a minute at
	// 10,000 checks a second repeats each only a few dozen times.
	defaultChecks = 20000
	// defaultTokens is how many ordinary users get an API token: viewers
	// for the viewerPermissions and guarded-list workloads.
	defaultTokens = 200
)

// The shape of a workload; buildWorkload explains each number.
const (
	// checkBlock is how many checks of the workload ask about one user in
	// a row: the checkMany workload sends one block per request, and 50 is
	// the batch size docs/benchmarks.md measures.
	checkBlock = 50
	// allowedShare is the share of allowed checks: about 40%, so that
	// both answers are common.
	allowedShare = 0.40
	// writeUsersMax bounds the users whose grants the write workloads
	// change: 64 users of 4 keys give 256 keys, enough that each of the
	// bench's 32 workers owns 8 and never waits for another.
	writeUsersMax    = 64
	writeKeysPerUser = 4
	// maxViewsPerViewer bounds the projects a viewer asks about besides
	// the projects with pages it may list: enough to spread the
	// viewerPermissions workload over a thousand and more (user, project)
	// pairs, few enough to compute quickly.
	maxViewsPerViewer = 8
	// workloadStream is the PCG stream of the workload's draws, so that
	// they are not the dataset's draws again.
	workloadStream = 0x776f726b6c6f6164 // "workload"
)

// seed is the seed command: it bulk-loads a deterministic dataset into an
// empty database, creates the superuser admin, and writes a workload.
func seed(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	start := time.Now()
	var (
		cfg          config
		spec         = models.LargeBulkSpec
		workloadPath string
		checks       int
		tokens       int
	)
	fs := flag.NewFlagSet("seed", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: api seed [flags]\n\nLoads a deterministic dataset into an empty database, creates the superuser admin,\nand writes a workload file for the load generator (cmd/loadgen).")
		fs.PrintDefaults()
	}
	cfg.flags(fs)
	fs.IntVar(&spec.Users, "users", spec.Users, "users to create")
	fs.IntVar(&spec.Groups, "groups", spec.Groups, "groups to create")
	fs.IntVar(&spec.MembershipsPerUser, "memberships", spec.MembershipsPerUser, "groups each user joins")
	fs.IntVar(&spec.Projects, "projects", spec.Projects, "projects to create")
	fs.IntVar(&spec.Grants, "grants", spec.Grants, "distinct grants to create, global and in projects")
	fs.IntVar(&spec.PageProjects, "page-projects", defaultPageProjects, "projects that get pages")
	fs.IntVar(&spec.PagesPerProject, "pages-per-project", defaultPagesPerProject, "pages in each of those projects")
	fs.Uint64Var(&spec.Seed, "seed", spec.Seed, "seed of the dataset and the workload")
	fs.StringVar(&spec.Shape, "shape", models.ShapeUniform, "shape of the dataset: uniform (groups' grants in a window of projects), or skewed (heavy-tailed groups and projects, users in 0-4 groups; docs/benchmarks.md)")
	fs.IntVar(&spec.LargestGroupGrants, "largest-group-grants", 0, "project grants of the skewed shape's largest group (0: 5,000)")
	fs.StringVar(&workloadPath, "workload", "", "write the load generator's workload to this JSON file")
	fs.IntVar(&checks, "checks", defaultChecks, "checks in the workload, with their expected answers")
	fs.IntVar(&tokens, "tokens", defaultTokens, "ordinary users who get an API token, as viewers in the workload")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("seed takes no arguments, got %q", fs.Args())
	}
	if checks < 0 || tokens < 0 {
		return fmt.Errorf("--checks and --tokens must not be negative")
	}

	db, err := openMigrated(ctx, &cfg)
	if err != nil {
		return err
	}
	defer db.Close()
	store := models.NewStore(db)
	n, err := store.CountUsers(ctx)
	if err != nil {
		return err
	}
	if n > 0 {
		return fmt.Errorf("the database already has %d users: seed loads only into an empty database (create a new one, or use a new SQLite file)", n)
	}
	stats, err := db.BulkLoad(ctx, spec)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "loaded %s users, %s groups, %s memberships, %s projects, %s pages and %s grants (%s global, %s in projects) in %s\n",
		commas(stats.Users), commas(stats.Groups), commas(stats.Memberships), commas(stats.Projects), commas(stats.Pages),
		commas(stats.Grants()), commas(stats.GlobalUserGrants+stats.GlobalGroupGrants),
		commas(stats.ProjectUserGrants+stats.ProjectGroupGrants), stats.Elapsed.Round(100*time.Millisecond))

	admin, adminToken, err := store.CreateSuperuser(ctx, firstAdmin)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "created the superuser %q (id %d)\n", admin.Username, admin.ID)
	if workloadPath == "" {
		fmt.Fprintf(stdout, "its API token, shown only now:\n%s\n", adminToken)
		fmt.Fprintf(stdout, "seeded in %s\n", time.Since(start).Round(100*time.Millisecond))
		return nil
	}

	wstart := time.Now()
	engine := authz.NewEngine(store)
	if err := engine.Registry().Refresh(ctx); err != nil {
		return fmt.Errorf("load the permission registry: %w", err)
	}
	w, err := buildWorkload(ctx, db, engine, store, spec, stats, checks, tokens)
	if err != nil {
		return fmt.Errorf("build the workload: %w", err)
	}
	w.Admin = workload.User{ID: admin.ID, Username: admin.Username, Token: adminToken}
	if err := workload.Write(workloadPath, w); err != nil {
		return err
	}
	allowed, guarded := 0, 0
	for _, c := range w.Checks {
		if c.Allowed {
			allowed++
		}
	}
	for _, v := range w.Views {
		if v.ReadsPages && v.Pages > 0 {
			guarded++
		}
	}
	fmt.Fprintf(stdout, "wrote %s: %s checks (%.1f%% allowed), %s viewers with %s views (%s of them guarded lists), %s write keys, in %s\n",
		workloadPath, commas(len(w.Checks)), percent(allowed, len(w.Checks)), commas(len(w.Viewers)), commas(len(w.Views)),
		commas(guarded), commas(len(w.Writes)), time.Since(wstart).Round(100*time.Millisecond))
	fmt.Fprintf(stdout, "seeded in %s\n", time.Since(start).Round(100*time.Millisecond))
	return nil
}

// workloadBuilder draws a workload from a loaded dataset. Every answer in
// it comes from the engine (with no cache), the same code the server runs,
// which the property test holds against a reference evaluator.
type workloadBuilder struct {
	engine *authz.Engine
	store  *models.Store
	db     *models.DB
	stats  models.BulkStats
	rng    *rand.Rand

	// projectPerms are the keys of the projects app's permissions, sorted;
	// permKeys maps every permission id to its key.
	projectPerms []string
	permKeys     map[int64]string
	// users are the dataset's users in id order; ordinary are the active
	// non-superusers among them. reserved holds the write keys' users.
	users    []authz.User
	ordinary []int64
	reserved map[int64]bool
}

// buildWorkload draws the workload of a dataset: write keys first (so that
// their users are kept out of everything else), then viewers and their
// views, then checks; then it creates the viewers' tokens.
func buildWorkload(ctx context.Context, db *models.DB, engine *authz.Engine, store *models.Store, spec models.BulkSpec, stats models.BulkStats, checks, tokens int) (*workload.File, error) {
	b := &workloadBuilder{engine: engine, store: store, db: db, stats: stats,
		rng: rand.New(rand.NewPCG(spec.Seed, workloadStream)), permKeys: map[int64]string{}, reserved: map[int64]bool{}}
	perms, err := engine.Registry().All(ctx)
	if err != nil {
		return nil, err
	}
	for _, p := range perms {
		b.permKeys[p.ID] = p.Key()
		if p.AppLabel == "projects" {
			b.projectPerms = append(b.projectPerms, p.Key())
		}
	}
	slices.Sort(b.projectPerms)
	if err := b.loadUsers(ctx); err != nil {
		return nil, err
	}
	w := &workload.File{Version: workload.Version, Seed: spec.Seed, Dataset: workload.Dataset{
		Users: stats.Users, Groups: stats.Groups, Memberships: stats.Memberships, Projects: stats.Projects,
		Grants: stats.Grants(), Pages: stats.Pages,
	}}
	for _, p := range stats.PageProjects {
		w.Projects = append(w.Projects, workload.Project{ID: p, Pages: stats.PagesPerProject})
	}
	if w.Writes, err = b.writeKeys(ctx); err != nil {
		return nil, err
	}
	viewers, err := b.viewers(ctx, tokens)
	if err != nil {
		return nil, err
	}

	for _, v := range viewers {
		views, err := b.views(ctx, v.id, v.guarded)
		if err != nil {
			return nil, err
		}
		w.Views = append(w.Views, views...)
	}
	if w.Checks, err = b.checks(ctx, checks); err != nil {
		return nil, err
	}
	for _, v := range viewers {
		_, secret, err := store.CreateToken(ctx, v.id, "loadgen", nil)
		if err != nil {
			return nil, err
		}
		w.Viewers = append(w.Viewers, workload.User{ID: v.id, Username: b.users[v.id-stats.FirstUserID].Username, Token: secret})
	}
	return w, nil
}

// loadUsers reads the dataset's users, a thousand per statement.
func (b *workloadBuilder) loadUsers(ctx context.Context) error {
	const chunk = 1000
	for start := 0; start < b.stats.Users; start += chunk {
		ids := make([]int64, 0, chunk)
		for i := start; i < min(start+chunk, b.stats.Users); i++ {
			ids = append(ids, b.stats.FirstUserID+int64(i))
		}
		found, err := b.store.UsersByID(ctx, ids)
		if err != nil {
			return err
		}
		for _, id := range ids {
			u, ok := found[id]
			if !ok {
				return fmt.Errorf("user %d of the dataset is missing", id)
			}
			b.users = append(b.users, u)
			if u.IsActive && !u.IsSuperuser {
				b.ordinary = append(b.ordinary, id)
			}
		}
	}
	return nil
}

// shuffled returns a shuffled copy of ids.
func (b *workloadBuilder) shuffled(ids []int64) []int64 {
	out := slices.Clone(ids)
	b.rng.Shuffle(len(out), func(i, j int) { out[i], out[j] = out[j], out[i] })
	return out
}

func (b *workloadBuilder) randomProject() int64 {
	return b.stats.FirstProjectID + int64(b.rng.IntN(b.stats.Projects))
}

func (b *workloadBuilder) randomProjectPerm() string {
	return b.projectPerms[b.rng.IntN(len(b.projectPerms))]
}

// writeKeys reserves up to writeUsersMax ordinary users, one in 8 of them
// at most so that most remain for reads, and draws for each
// writeKeysPerUser keys the user is denied.
func (b *workloadBuilder) writeKeys(ctx context.Context) ([]workload.Key, error) {
	n := min(writeUsersMax, len(b.ordinary)/8)
	if b.stats.Projects == 0 || len(b.projectPerms) == 0 {
		n = 0
	}
	var keys []workload.Key
	for _, u := range b.shuffled(b.ordinary)[:n] {
		b.reserved[u] = true
		type pk struct {
			perm    string
			project int64
		}
		seen := map[pk]bool{}
		mine := 0
		// A user who holds nearly everything (a group with a global
		// grant) may have no denied key to give; a few rounds suffice
		// for everyone else.
		for round := 0; round < 8 && mine < writeKeysPerUser; round++ {
			reqs := make([]authz.CheckRequest, 0, 2*writeKeysPerUser)
			for range 2 * writeKeysPerUser {
				k := pk{b.randomProjectPerm(), b.randomProject()}
				if !seen[k] {
					seen[k] = true
					reqs = append(reqs, authz.CheckRequest{Perm: k.perm, Project: k.project})
				}
			}
			ds, err := b.engine.CheckMany(ctx, u, reqs)
			if err != nil {
				return nil, err
			}
			for i, d := range ds {
				if !d.Allowed && mine < writeKeysPerUser {
					keys = append(keys, workload.Key{User: u, Perm: reqs[i].Perm, Project: reqs[i].Project})
					mine++
				}
			}
		}
	}
	return keys, nil
}

// viewer is a user chosen to get a token, with the projects with pages it
// may list.
type viewer struct {
	id      int64
	guarded []int64
}

// viewers chooses up to n viewers among the ordinary users that no write
// key names. First come users who may list the pages of a project with
// pages (projects.view_project and projects.view_page there), for the
// guarded-list workload: the holders of both in the projects with pages,
// taken in a shuffled order until there are n; one CheckMany each then
// finds every project with pages they may list. Then come users who may
// view some project, for the viewerPermissions workload.
func (b *workloadBuilder) viewers(ctx context.Context, n int) ([]viewer, error) {
	if n == 0 {
		return nil, nil
	}
	var out []viewer
	chosen := map[int64]bool{}
	for _, p := range b.shuffled(b.stats.PageProjects) {
		if len(out) == n {
			break
		}
		readers, err := b.usersWithProjectPerm(ctx, authz.PermViewPage, p)
		if err != nil {
			return nil, err
		}
		viewers, err := b.usersWithProjectPerm(ctx, authz.PermViewProject, p)
		if err != nil {
			return nil, err
		}
		var both []int64
		for u := range readers {
			if viewers[u] && b.isOrdinary(u) && !b.reserved[u] && !chosen[u] {
				both = append(both, u)
			}
		}
		slices.Sort(both)
		for _, u := range b.shuffled(both)[:min(len(both), n-len(out))] {
			chosen[u] = true
			out = append(out, viewer{id: u})
		}
	}
	reqs := make([]authz.CheckRequest, 0, 2*len(b.stats.PageProjects))
	for _, p := range b.stats.PageProjects {
		reqs = append(reqs, authz.CheckRequest{Perm: authz.PermViewProject, Project: p},
			authz.CheckRequest{Perm: authz.PermViewPage, Project: p})
	}
	for i := range out {
		ds, err := b.engine.CheckMany(ctx, out[i].id, reqs)
		if err != nil {
			return nil, err
		}
		for j := 0; j < len(ds); j += 2 {
			if ds[j].Allowed && ds[j+1].Allowed {
				out[i].guarded = append(out[i].guarded, reqs[j].Project)
			}
		}
	}
	for _, u := range b.shuffled(b.ordinary) {
		if len(out) == n {
			break
		}
		if chosen[u] || b.reserved[u] {
			continue
		}
		page, err := b.engine.ProjectsWithPerm(ctx, u, authz.PermViewProject, authz.PageRequest{First: 1})
		if err != nil {
			return nil, err
		}
		if len(page.Projects) > 0 {
			chosen[u] = true
			out = append(out, viewer{id: u})
		}
	}
	return out, nil
}

func (b *workloadBuilder) isOrdinary(u int64) bool {
	i := u - b.stats.FirstUserID
	return i >= 0 && i < int64(len(b.users)) && b.users[i].IsActive && !b.users[i].IsSuperuser
}

// usersWithProjectPerm returns the set of active users who hold perm in
// project.
func (b *workloadBuilder) usersWithProjectPerm(ctx context.Context, perm string, project int64) (map[int64]bool, error) {
	out := map[int64]bool{}
	req := authz.PageRequest{First: authz.MaxPageSize}
	for {
		page, err := b.engine.UsersWithProjectPerm(ctx, perm, project, req)
		if err != nil {
			return nil, err
		}
		for _, us := range page.Users {
			out[us.User.ID] = true
		}
		if !page.HasNextPage || len(page.Users) == 0 {
			return out, nil
		}
		req.After = page.Users[len(page.Users)-1].User.ID
	}
}

// views returns the projects a viewer asks about: the projects with pages
// it may list, then the first projects it may view, up to
// maxViewsPerViewer, each with every permission it holds there.
func (b *workloadBuilder) views(ctx context.Context, user int64, guarded []int64) ([]workload.View, error) {
	projects := slices.Clone(guarded)
	slices.Sort(projects)
	page, err := b.engine.ProjectsWithPerm(ctx, user, authz.PermViewProject, authz.PageRequest{First: maxViewsPerViewer})
	if err != nil {
		return nil, err
	}
	for _, p := range page.Projects {
		if len(projects) < maxViewsPerViewer && !slices.Contains(projects, p.ID) {
			projects = append(projects, p.ID)
		}
	}
	var out []workload.View
	for _, p := range projects {
		perms, err := b.engine.ProjectPermissions(ctx, user, p)
		if err != nil {
			return nil, err
		}
		if !slices.Contains(perms, authz.PermViewProject) {
			return nil, fmt.Errorf("user %d was listed as a viewer of project %d but does not hold %s there", user, p, authz.PermViewProject)
		}
		v := workload.View{User: user, Project: p, Permissions: perms, ReadsPages: slices.Contains(perms, authz.PermViewPage)}
		if slices.Contains(b.stats.PageProjects, p) {
			v.Pages = b.stats.PagesPerProject
		}
		out = append(out, v)
	}
	return out, nil
}

// checks draws n checks in blocks of checkBlock about one user each. The
// users are drawn from the whole dataset (inactive users and superusers
// too, as a service sees them) but the write keys' users. In a block, a
// share of the checks ask about a permission the user holds in some
// project (directly or through a group), the others about a permission
// of the projects app in a project drawn uniformly, which are nearly all
// denied. The share starts at allowedShare and follows the allowed ratio so
// far, so that about allowedShare of all checks are allowed whatever the
// density of the dataset. The answers come from one CheckMany per block.
func (b *workloadBuilder) checks(ctx context.Context, n int) ([]workload.Check, error) {
	if n == 0 || b.stats.Projects == 0 || len(b.projectPerms) == 0 {
		return nil, nil
	}
	var candidates []int64
	for _, u := range b.users {
		if !b.reserved[u.ID] {
			candidates = append(candidates, u.ID)
		}
	}
	if len(candidates) == 0 {
		return nil, fmt.Errorf("no user left for checks")
	}
	candidates = b.shuffled(candidates)
	blocks := (n + checkBlock - 1) / checkBlock
	out := make([]workload.Check, 0, n)
	// Draws from the pool are allowed unless the user is inactive, draws
	// from everywhere are denied unless a global or a group grant allows
	// them; counting both tells the share that gives allowedShare allowed.
	var heldDrawn, heldAllowed, anyDrawn, anyAllowed int
	share := allowedShare
	// heldChunk users' grants load in one statement: a few thousand rows.
	const heldChunk = 100
	var held map[int64][]models.BulkHeld
	for block := range blocks {
		if block%heldChunk == 0 {
			var users []int64
			for i := block; i < min(block+heldChunk, blocks); i++ {
				users = append(users, candidates[i%len(candidates)])
			}
			var err error
			if held, err = b.db.BulkHeld(ctx, users); err != nil {
				return nil, err
			}
		}
		user := candidates[block%len(candidates)]
		pool := held[user]
		size := min(checkBlock, n-len(out))
		seen := map[heldKey]bool{}
		reqs := make([]authz.CheckRequest, 0, size)
		fromPool := make([]bool, 0, size)
		// Small datasets may have fewer distinct keys than a block; the
		// attempts bound keeps them from looping.
		for attempt := 0; len(reqs) < size && attempt < 20*size; attempt++ {
			k := heldKey{b.randomProjectPerm(), b.randomProject()}
			pooled := len(pool) > 0 && b.rng.Float64() < share
			if pooled {
				h := pool[b.rng.IntN(len(pool))]
				k = heldKey{b.permKeys[h.Permission], h.Project}
			}
			if !seen[k] {
				seen[k] = true
				reqs = append(reqs, authz.CheckRequest{Perm: k.perm, Project: k.project})
				fromPool = append(fromPool, pooled)
			}
		}
		ds, err := b.engine.CheckMany(ctx, user, reqs)
		if err != nil {
			return nil, err
		}
		for i, d := range ds {
			out = append(out, workload.Check{User: user, Perm: reqs[i].Perm, Project: reqs[i].Project, Allowed: d.Allowed})
			if fromPool[i] {
				heldDrawn++
				heldAllowed += boolInt(d.Allowed)
			} else {
				anyDrawn++
				anyAllowed += boolInt(d.Allowed)
			}
		}
		a, u := 1.0, 0.0
		if heldDrawn > 0 {
			a = float64(heldAllowed) / float64(heldDrawn)
		}
		if anyDrawn > 0 {
			u = float64(anyAllowed) / float64(anyDrawn)
		}
		if a > u {
			share = min(max((allowedShare-u)/(a-u), 0), 1)
		}
	}
	return out, nil
}

// heldKey is a permission in a project.
type heldKey struct {
	perm    string
	project int64
}

// commas formats n with thousands separators.
func commas(n int) string {
	if n < 0 {
		return "-" + commas(-n)
	}
	s := strconv.Itoa(n)
	for i := len(s) - 3; i > 0; i -= 3 {
		s = s[:i] + "," + s[i:]
	}
	return s
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

func percent(part, whole int) float64 {
	if whole == 0 {
		return 0
	}
	return 100 * float64(part) / float64(whole)
}
