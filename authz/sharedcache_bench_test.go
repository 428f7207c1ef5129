package authz_test

import (
	"context"
	"testing"
	"time"

	"github.com/grantql/grantql/authz"
	"github.com/grantql/grantql/internal/dbtest"
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
