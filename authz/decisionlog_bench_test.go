package authz_test

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"strings"
	"testing"

	"github.com/grantql/grantql/authz"
	"github.com/grantql/grantql/internal/dbtest"
	"github.com/grantql/grantql/models"
)

// discardSink is a LogSink that keeps nothing, so that a benchmark counts
// the engine's part of logging (building the log, the Enqueue call) and
// not a writer's.
type discardSink struct{}

func (discardSink) Enqueue(context.Context, authz.DecisionLog) error { return nil }

// memStore answers the two reads of an object check from memory, so that
// the "memory" benchmarks measure the engine alone. The other methods of
// authz.Store are not called: the nil embedded interface would panic.
type memStore struct {
	authz.Store
	perms   []authz.Permission
	grants  *authz.Grants
	user    authz.RuleUser
	project authz.RuleProject
}

func (s *memStore) Permissions(context.Context) ([]authz.Permission, error) { return s.perms, nil }

func (s *memStore) LoadGrants(context.Context, int64, []int64) (*authz.Grants, error) {
	return s.grants, nil
}

func (s *memStore) RuleSubject(context.Context, int64, []int64) (authz.RuleUser, map[int64]authz.RuleProject, error) {
	return s.user, map[int64]authz.RuleProject{s.project.ID: s.project}, nil
}

// newMemStore holds alice (54), who may delete and publish pages in
// project 7.
func newMemStore() *memStore {
	return &memStore{
		perms: []authz.Permission{
			{ID: 1, AppLabel: "projects", Codename: "delete_page", Name: "Can delete page"},
			{ID: 2, AppLabel: "projects", Codename: "publish_page", Name: "Can publish page"},
		},
		grants: &authz.Grants{UserFound: true, IsActive: true, Global: map[int64]authz.Sources{},
			Projects: map[int64]map[int64]authz.Sources{7: {1: authz.FromProjectUser, 2: authz.FromProjectUser}}},
		user:    authz.RuleUser{ID: 54, Username: "alice", Groups: []string{"editors"}},
		project: authz.RuleProject{ID: 7, Name: "docs"},
	}
}

// BenchmarkCheckVerbosity measures what decision logs cost: the object
// check of the example of docs/model.md's Decision logs (deleting a published Page, which runs the
// Page rule and its nested publish_page check) at verbosity 0 (no log), 1
// (the body) and 2 (header and body), each log handed to a sink, without a
// request cache so that every operation decides. "memory" answers the
// store's reads from memory, to show the engine's own cost. On a database,
// verbosity 0 and 1 cost one statement (the grants; the Page rule reads
// neither user nor project), and verbosity 2 a second one for the
// header's username, which a request cache pays once per request:
//
//	go test -run '^$' -bench CheckVerbosity -benchmem ./authz/
func BenchmarkCheckVerbosity(b *testing.B) {
	type target struct {
		store   authz.Store
		user    int64
		project int64
	}
	targets := []struct {
		name  string
		setup func(b *testing.B) target
	}{{"memory", func(*testing.B) target { return target{store: newMemStore(), user: 54, project: 7} }}}
	for _, dialect := range dbtest.Dialects() {
		targets = append(targets, struct {
			name  string
			setup func(b *testing.B) target
		}{dialect, func(b *testing.B) target {
			ctx := context.Background()
			store := models.NewStore(dbtest.Open(b, dialect))
			e := authz.NewEngine(store)
			u, err := e.CreateUser(ctx, "alice", true, false)
			if err != nil {
				b.Fatal(err)
			}
			p, err := e.CreateProject(ctx, "docs", 0)
			if err != nil {
				b.Fatal(err)
			}
			for _, perm := range []string{deletePage, publishPage} {
				if err := e.GrantProjectPerm(ctx, authz.Holder{User: u.ID}, perm, p.ID); err != nil {
					b.Fatal(err)
				}
			}
			return target{store: store, user: u.ID, project: p.ID}
		}})
	}
	obj := page("17", true)
	for _, tg := range targets {
		b.Run(tg.name, func(b *testing.B) {
			t := tg.setup(b)
			for _, verbosity := range []int{authz.VerbosityNone, authz.VerbosityResult, authz.VerbosityHeader} {
				b.Run(fmt.Sprintf("verbosity=%d", verbosity), func(b *testing.B) {
					e := authz.NewEngine(t.store, authz.WithVerbosity(verbosity), authz.WithLogSink(discardSink{}))
					ctx := context.Background()
					if err := e.Registry().Refresh(ctx); err != nil {
						b.Fatal(err)
					}
					b.ReportAllocs()
					for b.Loop() {
						d, l, err := e.CheckObject(ctx, t.user, deletePage, t.project, obj)
						if err != nil || !d.Allowed || (l == nil) != (verbosity == authz.VerbosityNone) {
							b.Fatalf("CheckObject = %+v, %v, %v, want allowed with a log at verbosity > 0", d, l, err)
						}
					}
				})
			}
		})
	}
}

// BenchmarkWriteDecisionLogs measures the log writer's ceiling: how many
// decision logs a second the store writes, in the writer's batches (500),
// of the logs a hasProjectPerm request makes at the default verbosity 1
// (an admin's auth.view_user, allowed, and a user's project check, half
// of them allowed).
//
//	TEST_DATABASE_URL=... go test -run '^$' -bench WriteDecisionLogs -benchmem ./authz/
func BenchmarkWriteDecisionLogs(b *testing.B) {
	const batch = 500
	for _, dialect := range dbtest.Dialects() {
		b.Run(dialect, func(b *testing.B) {
			ctx := context.Background()
			db := dbtest.Open(b, dialect)
			store := models.NewStore(db)
			sink := &recordingSink{}
			e := authz.NewEngine(store, authz.WithVerbosity(authz.VerbosityResult), authz.WithLogSink(sink))
			admin, err := e.CreateUser(ctx, "admin", true, true)
			if err != nil {
				b.Fatal(err)
			}
			var users, projects []int64
			for i := range 10 {
				u, err := e.CreateUser(ctx, fmt.Sprintf("u%d", i), true, false)
				if err != nil {
					b.Fatal(err)
				}
				p, err := e.CreateProject(ctx, fmt.Sprintf("p%d", i), 0)
				if err != nil {
					b.Fatal(err)
				}
				if i%2 == 0 {
					if err := e.GrantProjectPerm(ctx, authz.Holder{User: u.ID}, "projects.view_page", p.ID); err != nil {
						b.Fatal(err)
					}
				}
				users, projects = append(users, u.ID), append(projects, p.ID)
			}
			for i := 0; len(sink.logs) < batch; i++ {
				if _, err := e.HasPerm(ctx, admin.ID, "auth.view_user"); err != nil {
					b.Fatal(err)
				}
				if _, err := e.HasProjectPerm(ctx, users[i%10], "projects.view_page", projects[i%10]); err != nil {
					b.Fatal(err)
				}
			}
			logs := sink.logs[:batch]
			rows := 0 // the log and its distinct tags other than auto (a flag of the log's row)
			for _, l := range logs {
				tags := map[string]bool{}
				for _, e := range l.Entries {
					for _, t := range e.Tags {
						if t != authz.TagAuto {
							tags[t] = true
						}
					}
				}
				rows += 1 + len(tags)
			}
			n := 0
			cpuBefore := backendCPU(b, db)
			for b.Loop() {
				write := append([]authz.DecisionLog(nil), logs...)
				for i := range write {
					n++
					// Unique and growing, as the engine's uids are.
					write[i].UID = fmt.Sprintf("bench%027d", n)
				}
				if err := store.WriteDecisionLogs(ctx, write); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.N*batch)/b.Elapsed().Seconds(), "logs/s")
			b.ReportMetric(float64(rows)/batch, "rows/log")
			if dialect == models.Postgres {
				var cpu float64
				for pid, after := range backendCPU(b, db) {
					cpu += after - cpuBefore[pid]
				}
				b.ReportMetric(cpu*1e6/float64(b.N*batch), "pg-cpu-µs/log")
			}
		})
	}
}

// backendCPU returns the CPU seconds (user and system) each PostgreSQL
// backend connected to db's database has used, by process id, read from
// /proc: the server must run on this machine. Background processes (WAL
// writer, checkpointer) are left out: other databases share them. On
// SQLite, or when /proc cannot be read, it returns nothing.
func backendCPU(b *testing.B, db *models.DB) map[int]float64 {
	b.Helper()
	out := map[int]float64{}
	if db.Dialect != models.Postgres {
		return out
	}
	rows, err := db.SQL().Query("SELECT pid FROM pg_stat_activity WHERE datname = current_database()")
	if err != nil {
		b.Fatal(err)
	}
	defer rows.Close()
	for rows.Next() {
		var pid int
		if err := rows.Scan(&pid); err != nil {
			b.Fatal(err)
		}
		stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
		if err != nil {
			continue
		}
		// Fields 14 and 15 (utime, stime), after the command in parentheses.
		f := strings.Fields(string(stat[strings.LastIndexByte(string(stat), ')')+2:]))
		utime, _ := strconv.ParseFloat(f[11], 64)
		stime, _ := strconv.ParseFloat(f[12], 64)
		out[pid] = (utime + stime) / 100 // USER_HZ, 100 on Linux
	}
	if err := rows.Err(); err != nil {
		b.Fatal(err)
	}
	return out
}
