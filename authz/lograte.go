package authz

import (
	"fmt"
	"math"
	"sync"
	"time"
)

// The decision logs of one caller are bounded by a token bucket: each log
// a check hands to the sink takes a token, the caller's bucket refills at
// the rate set with WithDecisionLogRate, and holds at most
// DecisionLogBurstSeconds of it. The caller is the one who asks (ActorFrom:
// the viewer of a GraphQL request), not the user asked about, so that a
// service asking about many users is one caller. A check that finds too
// few tokens is not answered: it fails with a *LogRateError, and nothing
// is logged, so that no answer goes unlogged and no log is dropped. A
// context without a caller (a program that embeds the engine and calls it
// outside any request) is not bounded, and neither is an engine without a
// sink: nothing is written.

// DecisionLogBurstSeconds is how many seconds of its rate a caller may
// spend at once: enough for a burst of checks after a quiet spell, not so
// much that a caller can queue minutes of logs.
const DecisionLogBurstSeconds = 10

// DefaultDecisionLogRate is the per-caller rate of the service's
// --decision-log-rate flag, in logs a second: above the some 25,000 logged
// checks a second that one caller reaches at benchmark rates, so that a
// service account is not refused, and about what the log writer stores a
// second on PostgreSQL (27,422 in BenchmarkWriteDecisionLogs), so that no
// single caller can queue faster than the writer drains for longer than a
// burst. An engine built without WithDecisionLogRate is unbounded.
const DefaultDecisionLogRate = 30000

// logSweepMin is the number of buckets from which the limiter drops the
// full ones (those of callers idle for a burst's time, which a fresh
// bucket replaces exactly), so that the map holds the active callers and
// not every caller ever seen.
const logSweepMin = 1024

// WithDecisionLogRate bounds the decision logs of each caller to
// perSecond a second, with a burst of DecisionLogBurstSeconds seconds'
// worth; 0 (the default) leaves them unbounded.
func WithDecisionLogRate(perSecond float64) Option {
	return func(e *Engine) {
		if perSecond > 0 {
			e.logRate = newLogLimiter(perSecond, perSecond*DecisionLogBurstSeconds, time.Now)
		} else {
			e.logRate = nil
		}
	}
}

// LogRateError says that a caller's checks would log faster than the
// decision-log rate allows: the check was not answered, and may be sent
// again after RetryAfter. It is an ErrUnavailable, as the service declines
// for a while rather than the input being wrong.
type LogRateError struct {
	Rate       float64       // logs a second per caller
	Burst      float64       // the most logs a caller may spend at once
	Need       int           // the logs the refused checks would have left
	RetryAfter time.Duration // when the bucket holds Need; 0 when it never can
}

func (e *LogRateError) Error() string {
	if e.RetryAfter == 0 {
		return fmt.Sprintf("%d logged checks in one request are more than the %g a caller may make at once; send fewer at a time",
			e.Need, e.Burst)
	}
	return fmt.Sprintf("too many logged checks: at most %g a second per caller; retry in %s",
		e.Rate, e.RetryAfter.Round(time.Millisecond))
}

// Is makes errors.Is(err, ErrUnavailable) true.
func (e *LogRateError) Is(target error) bool { return target == ErrUnavailable }

// logLimiter holds a token bucket per caller.
type logLimiter struct {
	rate, burst float64
	now         func() time.Time

	mu      sync.Mutex
	buckets map[int64]*logBucket
	sweepAt int // the map's size at which full buckets are dropped
}

// logBucket is one caller's tokens as of last.
type logBucket struct {
	tokens float64
	last   time.Time
}

func newLogLimiter(rate, burst float64, now func() time.Time) *logLimiter {
	return &logLimiter{rate: rate, burst: burst, now: now, buckets: map[int64]*logBucket{}, sweepAt: logSweepMin}
}

// take takes n tokens from caller's bucket, or none and an error that
// says when there will be enough.
func (l *logLimiter) take(caller int64, n int) error {
	if n == 0 {
		return nil
	}
	now := l.now()
	l.mu.Lock()
	defer l.mu.Unlock()
	b := l.buckets[caller]
	if b == nil {
		if len(l.buckets) >= l.sweepAt {
			l.sweep(now)
		}
		b = &logBucket{tokens: l.burst, last: now}
		l.buckets[caller] = b
	}
	b.refill(now, l.rate, l.burst)
	need := float64(n)
	if b.tokens >= need {
		b.tokens -= need
		return nil
	}
	err := &LogRateError{Rate: l.rate, Burst: l.burst, Need: n}
	if need <= l.burst {
		wait := (need - b.tokens) / l.rate
		err.RetryAfter = max(time.Duration(math.Ceil(wait*float64(time.Second))), time.Millisecond)
	}
	return err
}

// refill adds the tokens earned since b.last, up to burst.
func (b *logBucket) refill(now time.Time, rate, burst float64) {
	if dt := now.Sub(b.last).Seconds(); dt > 0 {
		b.tokens = min(burst, b.tokens+dt*rate)
	}
	b.last = now
}

// sweep drops the buckets that are full by now, and sets the size of the
// next sweep to twice what is left, so that sweeps cost constant time per
// new caller.
func (l *logLimiter) sweep(now time.Time) {
	for caller, b := range l.buckets {
		b.refill(now, l.rate, l.burst)
		if b.tokens >= l.burst {
			delete(l.buckets, caller)
		}
	}
	l.sweepAt = max(2*len(l.buckets), logSweepMin)
}
