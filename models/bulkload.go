package models

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/stdlib"
	"gorm.io/gorm"
)

// BulkSpec describes a synthetic dataset for benchmarks and query plans.
// The same spec, with the same Seed, loaded into an empty database of
// either dialect gives the same rows with the same ids.
//
// The dataset is shaped like an organisation's, not like uniform noise:
//   - users: every 50th is inactive (2%, Django's deactivated accounts)
//     and every 1000th is a superuser (0.1%), so that both short cuts of
//     the decision (docs/model.md) appear without dominating;
//   - memberships: each user joins MembershipsPerUser distinct groups
//     drawn uniformly (at most Groups of them);
//   - grants: Grants distinct grants, each one holder holding one
//     permission globally or in one project. One in 200 (0.5%) is global,
//     as global grants are an administrator's tool; of those, one in 5 is a
//     group's. The rest are project grants over the permissions of the
//     projects app, one in 4 held by a group. A user's own project grants
//     fall in a window of bulkUserWindow projects from its home project,
//     and a group's in a window of bulkGroupWindow projects from the
//     group's home project, because people and teams work on a handful
//     of projects rather than a few grants in each of thousands.
//
// Global grants draw from every permission in the registry when BulkLoad
// runs (on a fresh database, the 20 built-in ones of the migrations).
//
// The windows bound how many distinct project grants a spec can hold:
// Users×bulkUserWindow×10 user grants and Groups×bulkGroupWindow×10 group
// grants over the 10 permissions of the projects app. The dataset of issue
// 7 at 1,000,000 grants (10,000 users, 500 groups) has room for 1,600,000
// and 320,000: it fits, with the groups' windows about 78% full. As a
// window fills, draws that land on a grant made already are thrown away
// and more of the grants go to users, so the one-in-4 share of groups is
// only approximate for dense specs; a spec that cannot be filled within
// bulkMaxDrawsPerGrant draws per grant fails.
//
// Pages: PageProjects projects, spread evenly over the id range, get
// PagesPerProject pages each, so that a guarded list of 100 pages has a
// project to read from. Pages draw nothing from the generator, so adding
// them leaves every other row of a seed as it was.
//
// Shape ShapeSkewed draws memberships and grants another way (see
// skewedGrants); the default, ShapeUniform, is the one above.
type BulkSpec struct {
	Users, Groups, Projects, Grants int
	MembershipsPerUser              int
	PageProjects, PagesPerProject   int
	Seed                            uint64
	Shape                           string
	// LargestGroupGrants is the project grants of the first group in the
	// skewed shape; zero means bulkSkewLargestGroup.
	LargestGroupGrants int
}

// The shapes of a bulk dataset.
const (
	ShapeUniform = "uniform"
	ShapeSkewed  = "skewed"
)

// LargeBulkSpec is the dataset of docs/benchmarks.md and of the query
// plans there: an organisation of 10,000 users in 500 teams (groups of
// about 60, as each user is in 3) working on 5,000 projects, with 20
// grants per user on average, which is where a per-project loop would
// show and an index miss would cost milliseconds.
var LargeBulkSpec = BulkSpec{Users: 10000, Groups: 500, Projects: 5000, Grants: 200000, MembershipsPerUser: 3, Seed: 1}

// BulkStats says what BulkLoad inserted. Users, groups, projects and pages
// have contiguous ids starting at FirstUserID, FirstGroupID,
// FirstProjectID and FirstPageID; PageProjects lists the projects that
// have pages, in id order, each with PagesPerProject of them.
type BulkStats struct {
	Users, Groups, Memberships, Projects  int
	GlobalUserGrants, GlobalGroupGrants   int
	ProjectGrants                         int // project_permissions rows: distinct (project, permission)
	ProjectUserGrants, ProjectGroupGrants int // project_permission_users and _groups rows
	Pages, PagesPerProject                int
	PageProjects                          []int64
	FirstUserID, FirstGroupID             int64
	FirstProjectID, FirstPageID           int64
	Elapsed                               time.Duration
}

// Grants returns the number of grants inserted: global and project, user
// and group.
func (s BulkStats) Grants() int {
	return s.GlobalUserGrants + s.GlobalGroupGrants + s.ProjectUserGrants + s.ProjectGroupGrants
}

// The shape of a bulk dataset; BulkSpec explains each number.
const (
	bulkInactiveEvery     = 50
	bulkSuperuserEvery    = 1000
	bulkGlobalPerMille    = 5
	bulkGlobalGroupOneIn  = 5
	bulkProjectGroupOneIn = 4
	bulkUserWindow        = 16
	bulkGroupWindow       = 64
	// bulkMaxDrawsPerGrant bounds the draws spent finding distinct grants,
	// so that a spec asking for more grants than its users, groups and
	// projects can hold fails instead of looping.
	bulkMaxDrawsPerGrant = 50
)

// bulkEpoch is the created_at of the first bulk row; each next row is one
// second later, so that timestamps are as deterministic as the rest.
var bulkEpoch = time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)

// sqliteBulkParams bounds the parameters of one multi-row INSERT on
// SQLite: below the 32,766 host parameters SQLite allows, and large enough
// that the statement count, not the row count, stops mattering.
const sqliteBulkParams = 8000

// BulkLoad fills the database with the dataset spec describes, in one
// transaction: on PostgreSQL streamed with COPY, on SQLite in multi-row
// INSERTs. It is for benchmarks and query plans on a database nobody else
// writes to while it runs: ids continue from the largest in each table.
//
// On PostgreSQL it then runs VACUUM ANALYZE, as autovacuum would soon
// after a large insert. SQLite gathers no statistics unless asked, and the
// service never asks, so it is left as it would be in production.
func (db *DB) BulkLoad(ctx context.Context, spec BulkSpec) (BulkStats, error) {
	start := time.Now()
	if err := spec.validate(); err != nil {
		return BulkStats{}, err
	}
	var perms []Permission
	if err := db.Gorm.WithContext(ctx).Order("app_label, codename").Find(&perms).Error; err != nil {
		return BulkStats{}, fmt.Errorf("bulk load: load permissions: %w", err)
	}
	var base [4]int64
	for i, table := range []string{"users", "groups", "projects", "pages"} {
		if err := db.Gorm.WithContext(ctx).Table(table).Select("COALESCE(MAX(id), 0)").Scan(&base[i]).Error; err != nil {
			return BulkStats{}, fmt.Errorf("bulk load: largest id of %s: %w", table, err)
		}
	}
	var ppBase int64
	if err := db.Gorm.WithContext(ctx).Table("project_permissions").Select("COALESCE(MAX(id), 0)").Scan(&ppBase).Error; err != nil {
		return BulkStats{}, fmt.Errorf("bulk load: largest id of project_permissions: %w", err)
	}
	data, err := spec.generate(perms, base, ppBase)
	if err != nil {
		return BulkStats{}, err
	}
	switch db.Dialect {
	case Postgres:
		err = db.copyBulk(ctx, data.tables)
	default:
		err = db.insertBulk(ctx, data.tables)
	}
	if err != nil {
		return BulkStats{}, fmt.Errorf("bulk load: %w", err)
	}
	if db.Dialect == Postgres {
		// What autovacuum does after a large insert, at once rather than
		// within the minute: statistics for the planner, and the
		// visibility map that lets index-only scans skip the heap.
		if err := db.Gorm.WithContext(ctx).Exec("VACUUM ANALYZE").Error; err != nil {
			return BulkStats{}, fmt.Errorf("bulk load: vacuum analyze: %w", err)
		}
	}
	data.stats.Elapsed = time.Since(start)
	return data.stats, nil
}

func (s BulkSpec) validate() error {
	switch {
	case s.Users < 0 || s.Groups < 0 || s.Projects < 0 || s.Grants < 0 || s.MembershipsPerUser < 0:
		return fmt.Errorf("bulk load: negative count in %+v", s)
	case s.Grants > 0 && s.Users == 0 && s.Groups == 0:
		return errors.New("bulk load: grants need users or groups to hold them")
	case s.PageProjects < 0 || s.PagesPerProject < 0:
		return fmt.Errorf("bulk load: negative page count in %+v", s)
	case s.Shape != "" && s.Shape != ShapeUniform && s.Shape != ShapeSkewed:
		return fmt.Errorf("bulk load: unknown shape %q (want %q or %q)", s.Shape, ShapeUniform, ShapeSkewed)
	case s.LargestGroupGrants < 0:
		return fmt.Errorf("bulk load: negative LargestGroupGrants in %+v", s)
	case s.PageProjects > s.Projects:
		return fmt.Errorf("bulk load: %d projects with pages, but only %d projects", s.PageProjects, s.Projects)
	}
	return nil
}

// bulkTable is the rows of one table, in insertion order.
type bulkTable struct {
	name    string
	columns []string
	rows    [][]any
	// sequence is true for tables whose id column BulkLoad sets, so that
	// PostgreSQL's identity sequence must be moved past the new ids.
	sequence bool
}

type bulkData struct {
	tables []*bulkTable
	stats  BulkStats
}

// splitMix64 is the SplitMix64 generator: tiny, fast, and fully specified
// here, so that a seed gives the same dataset whatever Go version runs it.
type splitMix64 struct{ state uint64 }

func (r *splitMix64) next() uint64 {
	r.state += 0x9e3779b97f4a7c15
	z := r.state
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9
	z = (z ^ (z >> 27)) * 0x94d049bb133111eb
	return z ^ (z >> 31)
}

// intn returns a number in [0, n); the modulo bias is below 2^-40 for
// every n this file uses.
func (r *splitMix64) intn(n int) int { return int(r.next() % uint64(n)) }

// generate draws the dataset. Every draw comes from one generator in a
// fixed order: users, memberships, group homes, grants. base holds the
// largest ids of users, groups, projects and pages before the load.
func (s BulkSpec) generate(perms []Permission, base [4]int64, ppBase int64) (*bulkData, error) {
	userBase, groupBase, projectBase, pageBase := base[0], base[1], base[2], base[3]
	rng := &splitMix64{state: s.Seed}
	at := func(i int) time.Time { return bulkEpoch.Add(time.Duration(i) * time.Second) }
	d := &bulkData{stats: BulkStats{
		Users: s.Users, Groups: s.Groups, Projects: s.Projects,
		FirstUserID: userBase + 1, FirstGroupID: groupBase + 1, FirstProjectID: projectBase + 1,
		FirstPageID: pageBase + 1,
	}}

	users := &bulkTable{name: "users", columns: []string{"id", "username", "is_active", "is_superuser", "created_at"}, sequence: true}
	userHome := make([]int, s.Users)
	for i := range s.Users {
		id := userBase + int64(i) + 1
		users.rows = append(users.rows, []any{id, fmt.Sprintf("bulk_user_%d", id),
			i%bulkInactiveEvery != bulkInactiveEvery-1, i%bulkSuperuserEvery == bulkSuperuserEvery-1, at(i)})
		if s.Projects > 0 {
			userHome[i] = rng.intn(s.Projects)
		}
	}
	groups := &bulkTable{name: "groups", columns: []string{"id", "name", "created_at"}, sequence: true}
	for i := range s.Groups {
		id := groupBase + int64(i) + 1
		groups.rows = append(groups.rows, []any{id, fmt.Sprintf("bulk_group_%d", id), at(i)})
	}
	memberships := &bulkTable{name: "user_groups", columns: []string{"user_id", "group_id"}}
	perUser := min(s.MembershipsPerUser, s.Groups)
	skewed := s.Shape == ShapeSkewed
	var memberCum []float64
	if skewed {
		memberCum = harmonicCum(s.Groups)
	}
	for i := range s.Users {
		if skewed {
			memberships.rows = append(memberships.rows, skewedMemberships(rng, memberCum, userBase+int64(i)+1, groupBase)...)
			continue
		}
		chosen := make(map[int]bool, perUser)
		for len(chosen) < perUser {
			g := rng.intn(s.Groups)
			if !chosen[g] {
				chosen[g] = true
				memberships.rows = append(memberships.rows, []any{userBase + int64(i) + 1, groupBase + int64(g) + 1})
			}
		}
	}
	d.stats.Memberships = len(memberships.rows)
	projects := &bulkTable{name: "projects", columns: []string{"id", "name", "created_at"}, sequence: true}
	for i := range s.Projects {
		id := projectBase + int64(i) + 1
		projects.rows = append(projects.rows, []any{id, fmt.Sprintf("bulk project %d", id), at(i)})
	}
	groupHome := make([]int, s.Groups)
	for i := range groupHome {
		if s.Projects > 0 {
			groupHome[i] = rng.intn(s.Projects)
		}
	}

	var projectPerms []int64
	for _, p := range perms {
		if p.AppLabel == "projects" {
			projectPerms = append(projectPerms, p.ID)
		}
	}
	if s.Grants > 0 && len(perms) == 0 {
		return nil, errors.New("bulk load: the permission registry is empty; run the migrations first")
	}
	canProject := s.Projects > 0 && len(projectPerms) > 0

	userPerms := &bulkTable{name: "user_permissions", columns: []string{"user_id", "permission_id"}}
	groupPerms := &bulkTable{name: "group_permissions", columns: []string{"group_id", "permission_id"}}
	projectGrants := &bulkTable{name: "project_permissions", columns: []string{"id", "project_id", "permission_id"}, sequence: true}
	projectUsers := &bulkTable{name: "project_permission_users", columns: []string{"project_permission_id", "user_id"}}
	projectGroups := &bulkTable{name: "project_permission_groups", columns: []string{"project_permission_id", "group_id"}}
	type key struct{ holder, project, perm int64 }
	var (
		seenUser, seenGroup = map[key]bool{}, map[key]bool{}
		ppID                = map[[2]int64]int64{} // (project, permission) → project_permissions id
		draws, made         int
	)
	// The skewed shape's first group takes its grants first, from a
	// stream of its own, so that the rest of the dataset is the same
	// whatever its size.
	var skew *skewedDraws
	if skewed && s.Groups > 0 && canProject {
		skew = newSkewedDraws(s, len(projectPerms))
		for _, slot := range skew.largest {
			k := key{holder: groupBase + 1, project: projectBase + int64(slot/len(projectPerms)) + 1, perm: projectPerms[slot%len(projectPerms)]}
			seenGroup[k] = true
			made++
			pp, ok := ppID[[2]int64{k.project, k.perm}]
			if !ok {
				pp = ppBase + int64(len(projectGrants.rows)) + 1
				ppID[[2]int64{k.project, k.perm}] = pp
				projectGrants.rows = append(projectGrants.rows, []any{pp, k.project, k.perm})
			}
			projectGroups.rows = append(projectGroups.rows, []any{pp, k.holder})
		}
	}
	for made < s.Grants {
		if draws++; draws > bulkMaxDrawsPerGrant*s.Grants {
			return nil, fmt.Errorf("bulk load: found only %d distinct grants of %d in %d draws; %+v is too dense", made, s.Grants, draws-1, s)
		}
		global := !canProject || rng.intn(1000) < bulkGlobalPerMille
		oneIn := bulkProjectGroupOneIn
		if global {
			oneIn = bulkGlobalGroupOneIn
		}
		byGroup := s.Users == 0 || (s.Groups > 0 && rng.intn(oneIn) == 0)
		var (
			holder int
			k      key
		)
		if byGroup {
			holder = rng.intn(s.Groups)
			if skew != nil {
				holder = skew.group(rng)
			}
			k.holder = groupBase + int64(holder) + 1
		} else {
			holder = rng.intn(s.Users)
			k.holder = userBase + int64(holder) + 1
		}
		if global {
			k.perm = perms[rng.intn(len(perms))].ID
		} else {
			home, window := userHome[holder], min(bulkUserWindow, s.Projects)
			if byGroup {
				home, window = groupHome[holder], min(bulkGroupWindow, s.Projects)
			}
			k.project = projectBase + int64((home+rng.intn(window))%s.Projects) + 1
			if skew != nil {
				k.project = projectBase + int64(skew.project(rng, byGroup)) + 1
			}
			k.perm = projectPerms[rng.intn(len(projectPerms))]
		}
		seen := seenUser
		if byGroup {
			seen = seenGroup
		}
		if seen[k] {
			continue
		}
		seen[k] = true
		made++
		switch {
		case global && byGroup:
			groupPerms.rows = append(groupPerms.rows, []any{k.holder, k.perm})
		case global:
			userPerms.rows = append(userPerms.rows, []any{k.holder, k.perm})
		default:
			pp, ok := ppID[[2]int64{k.project, k.perm}]
			if !ok {
				pp = ppBase + int64(len(projectGrants.rows)) + 1
				ppID[[2]int64{k.project, k.perm}] = pp
				projectGrants.rows = append(projectGrants.rows, []any{pp, k.project, k.perm})
			}
			if byGroup {
				projectGroups.rows = append(projectGroups.rows, []any{pp, k.holder})
			} else {
				projectUsers.rows = append(projectUsers.rows, []any{pp, k.holder})
			}
		}
	}
	d.stats.GlobalUserGrants, d.stats.GlobalGroupGrants = len(userPerms.rows), len(groupPerms.rows)
	d.stats.ProjectGrants = len(projectGrants.rows)
	d.stats.ProjectUserGrants, d.stats.ProjectGroupGrants = len(projectUsers.rows), len(projectGroups.rows)

	pages := &bulkTable{name: "pages", columns: []string{"id", "project_id", "title", "body", "published", "created_at"}, sequence: true}
	if s.PageProjects > 0 && s.PagesPerProject > 0 {
		d.stats.PagesPerProject = s.PagesPerProject
		for i := range s.PageProjects {
			// Spread evenly, so that the projects with pages fall in the
			// windows of different users and groups.
			project := projectBase + int64(i*s.Projects/s.PageProjects) + 1
			d.stats.PageProjects = append(d.stats.PageProjects, project)
			for range s.PagesPerProject {
				id := pageBase + int64(len(pages.rows)) + 1
				pages.rows = append(pages.rows, []any{id, project, fmt.Sprintf("bulk page %d", id),
					fmt.Sprintf("Body of bulk page %d in project %d.", id, project), false, at(len(pages.rows))})
			}
		}
	}
	d.stats.Pages = len(pages.rows)
	// Parents before children, for the foreign keys.
	d.tables = []*bulkTable{users, groups, memberships, projects, userPerms, groupPerms, projectGrants, projectUsers, projectGroups, pages}
	return d, nil
}

// copyBulk streams the tables into PostgreSQL with COPY in one
// transaction, then moves each identity sequence past the ids it set.
func (db *DB) copyBulk(ctx context.Context, tables []*bulkTable) error {
	return pgxTx(ctx, db.SQL(), func(tx pgx.Tx) error {
		if err := copyTables(ctx, tx, tables); err != nil {
			return err
		}
		for _, t := range tables {
			if t.sequence && len(t.rows) > 0 {
				q := fmt.Sprintf("SELECT setval(pg_get_serial_sequence('%s', 'id'), (SELECT MAX(id) FROM %s))", t.name, t.name)
				if _, err := tx.Exec(ctx, q); err != nil {
					return fmt.Errorf("move the id sequence of %s: %w", t.name, err)
				}
			}
		}
		return nil
	})
}

// copyTables streams each table's rows into PostgreSQL with COPY, in the
// order given (parents before children, for the foreign keys). Each COPY
// counts as a statement.
func copyTables(ctx context.Context, tx pgx.Tx, tables []*bulkTable) error {
	for _, t := range tables {
		if len(t.rows) == 0 {
			continue
		}
		count(ctx, "COPY "+t.name)
		if _, err := tx.CopyFrom(ctx, pgx.Identifier{t.name}, t.columns, pgx.CopyFromRows(t.rows)); err != nil {
			return fmt.Errorf("copy into %s: %w", t.name, err)
		}
	}
	return nil
}

// pgxTx runs fn in a transaction on a pgx connection of the pool, for what
// database/sql cannot do (COPY); it commits when fn returns nil.
func pgxTx(ctx context.Context, pool *sql.DB, fn func(pgx.Tx) error) error {
	conn, err := pool.Conn(ctx)
	if err != nil {
		return err
	}
	defer conn.Close()
	return conn.Raw(func(driverConn any) error {
		sc, ok := driverConn.(*stdlib.Conn)
		if !ok {
			return fmt.Errorf("PostgreSQL connection is a %T, not a pgx connection", driverConn)
		}
		return pgx.BeginFunc(ctx, sc.Conn(), fn)
	})
}

// insertBulk inserts the tables into SQLite in one transaction, many rows
// per INSERT. SQLite's AUTOINCREMENT follows explicit ids by itself.
func (db *DB) insertBulk(ctx context.Context, tables []*bulkTable) error {
	return db.Gorm.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		for _, t := range tables {
			perRow := len(t.columns)
			batch := sqliteBulkParams / perRow
			row := "(" + strings.TrimSuffix(strings.Repeat("?,", perRow), ",") + ")"
			for start := 0; start < len(t.rows); start += batch {
				rows := t.rows[start:min(start+batch, len(t.rows))]
				var q strings.Builder
				fmt.Fprintf(&q, "INSERT INTO %s (%s) VALUES ", t.name, strings.Join(t.columns, ", "))
				args := make([]any, 0, len(rows)*perRow)
				for i, r := range rows {
					if i > 0 {
						q.WriteByte(',')
					}
					q.WriteString(row)
					args = append(args, r...)
				}
				// The transaction's own connection, not gorm's statement
				// builder, which would re-parse thousands of placeholders.
				if _, err := tx.Statement.ConnPool.ExecContext(ctx, q.String(), args...); err != nil {
					return fmt.Errorf("insert into %s: %w", t.name, err)
				}
			}
		}
		return nil
	})
}

// BulkHeld is a permission a user holds in a project through a project
// grant, to it or to one of its groups.
type BulkHeld struct {
	Project, Permission int64
}

// bulkHeldSQL lists the project grants of users, their own and their
// groups', through the indexes the check statement uses
// (project_permission_users_user_idx, user_groups' primary key,
// project_permission_groups_group_idx), so that it costs what a check
// costs per user rather than a scan of the grant tables.
const bulkHeldSQL = `
SELECT ppu.user_id AS user_id, pp.project_id AS project, pp.permission_id AS permission
  FROM project_permission_users ppu JOIN project_permissions pp ON pp.id = ppu.project_permission_id
 WHERE ppu.user_id IN @users
UNION
SELECT ug.user_id, pp.project_id, pp.permission_id
  FROM user_groups ug JOIN project_permission_groups ppg ON ppg.group_id = ug.group_id
  JOIN project_permissions pp ON pp.id = ppg.project_permission_id
 WHERE ug.user_id IN @users
ORDER BY 1, 2, 3`

// BulkHeld returns, per user, the project grants each of users holds
// directly or through its groups, in (project, permission) order, with one
// statement; global grants and the users' flags are left out. The seed
// command draws from it the checks of its workload that should be
// allowed.
func (db *DB) BulkHeld(ctx context.Context, users []int64) (map[int64][]BulkHeld, error) {
	out := make(map[int64][]BulkHeld, len(users))
	if len(users) == 0 {
		return out, nil
	}
	var rows []struct {
		UserID              int64
		Project, Permission int64
	}
	if err := db.Gorm.WithContext(ctx).Raw(bulkHeldSQL, map[string]any{"users": users}).Scan(&rows).Error; err != nil {
		return nil, fmt.Errorf("held project grants of %d users: %w", len(users), err)
	}
	for _, r := range rows {
		out[r.UserID] = append(out[r.UserID], BulkHeld{Project: r.Project, Permission: r.Permission})
	}
	return out, nil
}
