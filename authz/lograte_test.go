package authz_test

import (
	"errors"
	"testing"
	"time"

	"github.com/grantql/grantql/authz"
)

// TestLogLimiter: a caller's bucket starts full, refills at the rate up
// to the burst, refuses what it cannot cover with the wait that would
// cover it, keeps callers apart, and drops the buckets of idle callers.
func TestLogLimiter(t *testing.T) {
	now := time.Unix(1700000000, 0)
	l := authz.NewLogLimiter(10, 100, func() time.Time { return now })
	take := func(caller int64, n int) error {
		t.Helper()
		return l.Take(caller, n)
	}
	if err := take(1, 100); err != nil {
		t.Fatalf("Take(1, 100) on a full bucket = %v, want nil", err)
	}
	err := take(1, 5)
	var rate *authz.LogRateError
	if !errors.As(err, &rate) || !errors.Is(err, authz.ErrUnavailable) || rate.RetryAfter != 500*time.Millisecond {
		t.Fatalf("Take(1, 5) on an empty bucket = %v, want a LogRateError retrying after 500ms", err)
	}
	if err := take(2, 100); err != nil {
		t.Errorf("Take(2, 100) = %v, want nil: caller 2 has a bucket of its own", err)
	}
	now = now.Add(500 * time.Millisecond)
	if err := take(1, 5); err != nil {
		t.Errorf("Take(1, 5) after 500ms = %v, want nil", err)
	}
	now = now.Add(time.Hour)
	if err := take(1, 101); !errors.As(err, &rate) || rate.RetryAfter != 0 {
		t.Errorf("Take(1, 101) = %v, want a LogRateError without a retry: more than a burst", err)
	}
	if err := take(1, 100); err != nil {
		t.Errorf("Take(1, 100) after an hour = %v, want nil: the bucket refilled to its burst", err)
	}
	// Many callers, idle long enough to be full again, are dropped.
	for c := int64(10); c < 3000; c++ {
		if err := take(c, 1); err != nil {
			t.Fatal(err)
		}
	}
	now = now.Add(time.Hour)
	idle := l.Buckets()
	swept := false
	for c := int64(5000); c < 5000+int64(idle) && !swept; c++ {
		if err := take(c, 1); err != nil {
			t.Fatal(err)
		}
		swept = l.Buckets() < idle/2
	}
	if !swept {
		t.Errorf("limiter holds %d buckets after %d callers went idle and as many new ones came, want the idle ones dropped", l.Buckets(), idle)
	}
}
