package authz_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"testing"

	"github.com/grantql/grantql/authz"
	"github.com/grantql/grantql/internal/dbtest"
	"github.com/grantql/grantql/models"
)

// envBenchLarge selects the datasets of docs/benchmarks.md. Without it the
// benchmarks run on benchSmallSpec, so that `go test -bench .` stays quick.
const envBenchLarge = "GRANTQL_BENCH_LARGE"

// benchSmallSpec loads in well under a second on either dialect.
var benchSmallSpec = models.BulkSpec{Users: 500, Groups: 25, Projects: 200, Grants: 5000, MembershipsPerUser: 3, Seed: 1}

// benchSQLiteSpec is the large dataset on SQLite: a fifth of
// models.LargeBulkSpec's users, a tenth of its projects and grants, the
// size of a team that runs the embedded database rather than PostgreSQL.
var benchSQLiteSpec = models.BulkSpec{Users: 2000, Groups: 100, Projects: 500, Grants: 20000, MembershipsPerUser: 3, Seed: 1}

// benchSpec returns the dataset the benchmarks run on for dialect.
func benchSpec(dialect string) models.BulkSpec {
	switch {
	case os.Getenv(envBenchLarge) != "1":
		return benchSmallSpec
	case dialect == models.Postgres:
		return models.LargeBulkSpec
	default:
		return benchSQLiteSpec
	}
}

// benchPool is the number of distinct questions each benchmark cycles
// through: enough users and projects that the database's caches, not one
// hot row, are measured, and few enough for the warm request cache.
const benchPool = 256

// benchCheckMany is the batch size of the CheckMany benchmark: a page of
// 50 projects, each asking whether one button shows.
const benchCheckMany = 50

// benchPair is one (user, project) question.
type benchPair struct{ user, project int64 }

// BenchmarkEngine measures the engine on a BulkLoad dataset, once per
// dialect. The dataset is loaded once per dialect per run, in the
// dialect's benchmark, and shared by its sub-benchmarks:
//
//	go test -run '^$' -bench . -benchmem ./authz/
//	GRANTQL_BENCH_LARGE=1 TEST_DATABASE_URL=postgres://... go test -run '^$' -bench . -benchmem ./authz/
//
// "cold" checks carry no request cache, so every operation runs its
// statement; "warm" checks hit a request cache filled beforehand. Each
// reports queries/op, the SQL statements per operation.
func BenchmarkEngine(b *testing.B) {
	for _, dialect := range dbtest.Dialects() {
		b.Run(dialect, func(b *testing.B) {
			ctx := context.Background()
			spec := benchSpec(dialect)
			db := dbtest.Open(b, dialect)
			st, err := db.BulkLoad(ctx, spec)
			if err != nil {
				b.Fatal(err)
			}
			b.Logf("BulkLoad(%+v): %d grants in %v", spec, st.Grants(), st.Elapsed.Round(1e6))
			e := authz.NewEngine(models.NewStore(db))
			// The registry loads once per engine; load it now so that no
			// benchmark counts it.
			if err := e.Registry().Refresh(ctx); err != nil {
				b.Fatal(err)
			}
			pairs := benchPairs(b, e, st, spec.Seed)
			for _, bm := range engineBenchmarks(e, pairs, st) {
				b.Run(bm.name, func(b *testing.B) {
					counter := &models.StatementCounter{}
					ctx := counter.WithCounting(context.Background())
					if bm.prepare != nil {
						ctx = bm.prepare(b, ctx)
						counter.Reset()
					}
					b.ReportAllocs()
					b.ResetTimer()
					bm.run(b, ctx)
					b.StopTimer()
					b.ReportMetric(float64(counter.Count())/float64(b.N), "queries/op")
				})
			}
		})
	}
}

// benchPairs draws benchPool questions: users uniformly, and for every
// other question a project the user may view (what a user opens is mostly
// their own), else a project drawn uniformly, which the user rarely may.
func benchPairs(b *testing.B, e *authz.Engine, st models.BulkStats, seed uint64) []benchPair {
	b.Helper()
	rng := rand.New(rand.NewPCG(seed, 2))
	pairs := make([]benchPair, benchPool)
	for i := range pairs {
		p := benchPair{
			user:    st.FirstUserID + rng.Int64N(int64(st.Users)),
			project: st.FirstProjectID + rng.Int64N(int64(st.Projects)),
		}
		if i%2 == 1 {
			page, err := e.ProjectsWithPerm(context.Background(), p.user, "projects.view_page", authz.PageRequest{First: authz.MaxPageSize})
			if err != nil {
				b.Fatal(err)
			}
			if n := len(page.Projects); n > 0 {
				p.project = page.Projects[rng.IntN(n)].ID
			}
		}
		pairs[i] = p
	}
	return pairs
}

// engineBenchmark is one sub-benchmark of BenchmarkEngine.
type engineBenchmark struct {
	name string
	// prepare, when set, returns the context the timed loop uses, after
	// work that is neither timed nor counted.
	prepare func(b *testing.B, ctx context.Context) context.Context
	run     func(b *testing.B, ctx context.Context)
}

func engineBenchmarks(e *authz.Engine, pairs []benchPair, st models.BulkStats) []engineBenchmark {
	const perm = "projects.view_page"
	hasProjectPerm := func(b *testing.B, ctx context.Context) {
		allowed := 0
		for i := range b.N {
			p := pairs[i%len(pairs)]
			d, err := e.HasProjectPerm(ctx, p.user, perm, p.project)
			if err != nil {
				b.Fatal(err)
			}
			if d.Allowed {
				allowed++
			}
		}
		b.ReportMetric(float64(allowed)/float64(b.N), "allowed/op")
	}
	return []engineBenchmark{
		{name: "HasProjectPerm/cold", run: hasProjectPerm},
		{
			name: "HasProjectPerm/warm",
			prepare: func(b *testing.B, ctx context.Context) context.Context {
				ctx = authz.WithRequestCache(ctx)
				for _, p := range pairs {
					if _, err := e.HasProjectPerm(ctx, p.user, perm, p.project); err != nil {
						b.Fatal(err)
					}
				}
				return ctx
			},
			run: hasProjectPerm,
		},
		{
			name: "HasProjectPerm/cold-parallel",
			run: func(b *testing.B, ctx context.Context) {
				b.RunParallel(func(pb *testing.PB) {
					for i := 0; pb.Next(); i++ {
						p := pairs[i%len(pairs)]
						if _, err := e.HasProjectPerm(ctx, p.user, perm, p.project); err != nil {
							b.Error(err)
							return
						}
					}
				})
			},
		},
		{
			name: fmt.Sprintf("CheckMany%d/cold", benchCheckMany),
			run: func(b *testing.B, ctx context.Context) {
				// A page of consecutive projects from the pair's project.
				batches := make([][]authz.CheckRequest, len(pairs))
				n := min(benchCheckMany, st.Projects)
				for i, p := range pairs {
					batches[i] = make([]authz.CheckRequest, n)
					for j := range n {
						project := st.FirstProjectID + (p.project-st.FirstProjectID+int64(j))%int64(st.Projects)
						batches[i][j] = authz.CheckRequest{Perm: perm, Project: project}
					}
				}
				b.ResetTimer()
				for i := range b.N {
					if _, err := e.CheckMany(ctx, pairs[i%len(pairs)].user, batches[i%len(batches)]); err != nil {
						b.Fatal(err)
					}
				}
			},
		},
		{
			name: "ProjectPermissions/cold",
			run: func(b *testing.B, ctx context.Context) {
				for i := range b.N {
					p := pairs[i%len(pairs)]
					if _, err := e.ProjectPermissions(ctx, p.user, p.project); err != nil {
						b.Fatal(err)
					}
				}
			},
		},
		{
			name: "ProjectsWithPerm/first20",
			run: func(b *testing.B, ctx context.Context) {
				for i := range b.N {
					p := pairs[i%len(pairs)]
					if _, err := e.ProjectsWithPerm(ctx, p.user, perm, authz.PageRequest{First: 20}); err != nil {
						b.Fatal(err)
					}
				}
			},
		},
		{
			name: "UsersWithProjectPerm/first20",
			run: func(b *testing.B, ctx context.Context) {
				for i := range b.N {
					p := pairs[i%len(pairs)]
					if _, err := e.UsersWithProjectPerm(ctx, perm, p.project, authz.PageRequest{First: 20}); err != nil {
						b.Fatal(err)
					}
				}
			},
		},
	}
}
