package authz

import "time"

// RuleReloadInterval exports ruleReloadInterval to the tests of package
// authz_test, which wait for it to see a rule created by another engine.
const RuleReloadInterval = ruleReloadInterval

// LogLimiter exposes the decision-log limiter to the tests of package
// authz_test, with a clock of their own.
type LogLimiter struct{ l *logLimiter }

// NewLogLimiter returns a limiter of rate logs a second per caller and
// burst at once, reading the time from now.
func NewLogLimiter(rate, burst float64, now func() time.Time) LogLimiter {
	return LogLimiter{newLogLimiter(rate, burst, now)}
}

// Take takes n tokens from caller's bucket.
func (l LogLimiter) Take(caller int64, n int) error { return l.l.take(caller, n) }

// Buckets returns the number of buckets held.
func (l LogLimiter) Buckets() int { return len(l.l.buckets) }
