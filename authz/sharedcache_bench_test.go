package authz_test

import (
	"context"
	"fmt"
	"os"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/grantql/grantql/authz"
	"github.com/grantql/grantql/internal/dbtest"
	"github.com/grantql/grantql/models"
)

// BenchmarkSharedCache measures a check answered by the shared cache (a new
// request each time, so the request cache never helps) against the same
// check with consistency FULL, which reads the database:
//
//	TEST_DATABASE_URL=postgres://... go test -run '^$' -bench SharedCache -benchmem ./authz/
func BenchmarkSharedCache(b *testing.B) {
	for _, dialect := range dbtest.Dialects() {
		b.Run(dialect, func(b *testing.B) {
			in := newInstance(b, migratedURL(b, dialect), authz.DefaultCacheEntries, nil)
			w := newSharedWorld(b, in.e)
			for _, mode := range []struct {
				name string
				ctx  context.Context
			}{
				{"cached", context.Background()},
				{"full", authz.WithConsistency(context.Background(), authz.Full)},
			} {
				b.Run(mode.name, func(b *testing.B) {
					for b.Loop() {
						d, err := in.e.HasProjectPerm(mode.ctx, w.alice, "projects.view_page", w.project)
						if err != nil || !d.Allowed {
							b.Fatalf("HasProjectPerm = %+v, %v", d, err)
						}
					}
				})
			}
		})
	}
}

// BenchmarkRevisionPropagation measures how long a write through one
// instance takes to reach a warm check on another over the same database:
// each operation grants or revokes through instance a, then spins on
// instance b's cached check until it answers the new state. µs-to-see/op
// is the mean time from the write's return to the first check on b that
// sees it, worst-µs-to-see the longest; ns/op includes the write. On PostgreSQL
// that is NOTIFY's delivery; on SQLite, which has no push, the poll
// (testCachePoll here, 1 s by default).
func BenchmarkRevisionPropagation(b *testing.B) {
	for _, dialect := range dbtest.Dialects() {
		b.Run(dialect, func(b *testing.B) {
			url := migratedURL(b, dialect)
			a := newInstance(b, url, 1000, nil)
			bi := newInstance(b, url, 1000, nil)
			w := newSharedWorld(b, a.e)
			ctx := context.Background()
			want := false
			var worst, total time.Duration
			n := 0
			for b.Loop() {
				want = !want
				var err error
				if want {
					err = a.e.GrantProjectPerm(ctx, authz.Holder{User: w.bob}, "projects.view_page", w.project)
				} else {
					_, err = a.e.RevokeProjectPerm(ctx, authz.Holder{User: w.bob}, "projects.view_page", w.project)
				}
				if err != nil {
					b.Fatal(err)
				}
				start := time.Now()
				for {
					d, err := bi.e.HasProjectPerm(ctx, w.bob, "projects.view_page", w.project)
					if err != nil {
						b.Fatal(err)
					}
					if d.Allowed == want {
						break
					}
					if time.Since(start) > propagationLimit {
						b.Fatalf("the write did not reach the other instance in %s", propagationLimit)
					}
				}
				took := time.Since(start)
				worst, total, n = max(worst, took), total+took, n+1
			}
			b.ReportMetric(float64(total.Microseconds())/float64(n), "µs-to-see/op")
			b.ReportMetric(float64(worst.Microseconds()), "worst-µs-to-see")
		})
	}
}

// BenchmarkSharedCacheMemory fills a shared cache with a million (user,
// project) entries read from the 1,000,000-grant dataset of
// docs/benchmarks.md, and reports what they hold in memory: the heap they
// take (heap-MiB, heap-B/entry, after a collection) and the process's
// resident size (rss-MiB), once with room for them all and once with the
// default bound of 100,000 entries, which keeps the newest. Each of the
// 1,000 users asks CheckMany about 1,000 projects, so that the million
// entries take 1,000 statements:
//
//	TEST_DATABASE_URL=postgres://... go test -run '^$' -bench SharedCacheMemory -benchtime 1x ./authz/
func BenchmarkSharedCacheMemory(b *testing.B) {
	const users, projectsPerUser = 1000, 1000
	if os.Getenv(dbtest.EnvPostgres) == "" {
		b.Skip("needs " + dbtest.EnvPostgres + ": the million-grant dataset is PostgreSQL's")
	}
	url := migratedURL(b, models.Postgres)
	db, err := models.Open(url)
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	spec := models.LargeBulkSpec
	spec.Grants = 1000000
	st, err := db.BulkLoad(context.Background(), spec)
	if err != nil {
		b.Fatal(err)
	}
	b.Logf("BulkLoad: %d grants in %v", st.Grants(), st.Elapsed.Round(time.Millisecond))
	for _, capacity := range []int{users * projectsPerUser, authz.DefaultCacheEntries} {
		b.Run(fmt.Sprintf("capacity=%d", capacity), func(b *testing.B) {
			for b.Loop() {
				heapBefore, _ := memory()
				in := newInstance(b, url, capacity, nil)
				reqs := make([]authz.CheckRequest, projectsPerUser)
				for u := range int64(users) {
					for i := range reqs {
						p := (u*projectsPerUser + int64(i)) % int64(st.Projects)
						reqs[i] = authz.CheckRequest{Perm: authz.PermViewPage, Project: st.FirstProjectID + p}
					}
					if _, err := in.e.CheckMany(context.Background(), st.FirstUserID+u*int64(st.Users/users), reqs); err != nil {
						b.Fatal(err)
					}
				}
				heapAfter, rss := memory()
				entries := in.cache.Stats().Entries
				b.ReportMetric(float64(entries), "entries")
				b.ReportMetric(float64(heapAfter-heapBefore)/(1<<20), "heap-MiB")
				b.ReportMetric(float64(heapAfter-heapBefore)/float64(entries), "heap-B/entry")
				b.ReportMetric(float64(rss)/(1<<20), "rss-MiB")
				runtime.KeepAlive(in)
			}
		})
	}
}

// memory returns the live heap after a collection, and the resident size
// of the process (0 where /proc does not tell).
func memory() (heap, rss uint64) {
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	if status, err := os.ReadFile("/proc/self/status"); err == nil {
		for line := range strings.Lines(string(status)) {
			if v, ok := strings.CutPrefix(line, "VmRSS:"); ok {
				kb, _ := strconv.ParseUint(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
				rss = kb << 10
			}
		}
	}
	return ms.HeapAlloc, rss
}
