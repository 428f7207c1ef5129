package authz

import (
	"context"
	"fmt"
	"reflect"
	"strconv"
	"sync/atomic"
	"time"
	"unicode/utf8"
)

// The bounds of this file keep the work of one check, and of one request,
// finite whatever a caller sends: the size of an object's attributes, the
// steps and time of rule evaluation, the lines of a decision log, and how
// soon a loop over checks notices that its request has run out of time.
// Bounds a request can be measured against before it runs are refused
// with ErrInvalidInput (a *LimitError naming the bound); those met while
// it runs deny the check with a log line that says which bound stopped the
// rule, or, for the request's own deadline, fail it as ErrUnavailable.

// Limits of an object's attributes, as a caller passes them with a check.
// A rule reads attributes in a comprehension or with `in`, whose cost
// grows with their size; these bounds keep one object's attributes within
// what a rule should ever read (a few hundred scalars, a list of group or
// tag names) and far above what grantql's own objects carry (a Page has
// three scalars).
const (
	// MaxAttributeBytes bounds the size of an object's attributes: the
	// bytes of every key and string, and 8 for any other scalar.
	MaxAttributeBytes = 64 << 10
	// MaxAttributeListLen bounds the elements of any one list, and the
	// entries of any one map, among an object's attributes.
	MaxAttributeListLen = 1000
	// MaxAttributeDepth bounds how deeply lists and maps nest in an
	// object's attributes: the attributes map itself is depth 1.
	MaxAttributeDepth = 8
)

// The names of the limits a *LimitError reports.
const (
	LimitAttributeBytes   = "attributeBytes"
	LimitAttributeListLen = "attributeListLength"
	LimitAttributeDepth   = "attributeDepth"
)

// LimitError reports input over one of the engine's bounds, named by
// Limit; nothing of the check it belongs to ran. It is an ErrInvalidInput
// error.
type LimitError struct {
	Limit string // one of the Limit* names
	Max   int64  // the bound
	What  string // the input over it, in the caller's terms
}

func (e *LimitError) Error() string {
	switch e.Limit {
	case LimitAttributeBytes:
		return fmt.Sprintf("%s: the attributes of one object hold at most %d bytes (%s)", e.What, e.Max, e.Limit)
	case LimitAttributeListLen:
		return fmt.Sprintf("%s: a list or map among an object's attributes holds at most %d elements (%s)", e.What, e.Max, e.Limit)
	case LimitAttributeDepth:
		return fmt.Sprintf("%s: lists and maps nest at most %d deep in an object's attributes (%s)", e.What, e.Max, e.Limit)
	}
	return fmt.Sprintf("%s: over the %s limit of %d", e.What, e.Limit, e.Max)
}

// Is makes errors.Is(err, ErrInvalidInput) true.
func (e *LimitError) Is(target error) bool { return target == ErrInvalidInput }

// validateAttributes reports the first bound attrs exceed, or nil. It
// stops at the first excess, so its own work is bounded by the bounds.
// Attributes decoded from JSON hold map[string]any and []any; other maps
// and slices, which a program that embeds the engine may pass, are
// measured through reflection.
func validateAttributes(attrs map[string]any) error {
	size := 0
	var walk func(v any, path string, depth int) error
	walk = func(v any, path string, depth int) error {
		var n int
		switch v := v.(type) {
		case map[string]any:
			n = len(v)
		case []any:
			n = len(v)
		case string:
			size += len(v)
		case nil, bool, int, int32, int64, uint, uint32, uint64, float32, float64:
			size += 8
		default:
			switch r := reflect.ValueOf(v); r.Kind() {
			case reflect.Map, reflect.Slice, reflect.Array:
				n = r.Len()
				if n > 0 && n <= MaxAttributeListLen && depth <= MaxAttributeDepth {
					return walkReflect(r, path, depth, walk)
				}
			case reflect.String:
				size += r.Len()
			default:
				size += 8
			}
		}
		if size > MaxAttributeBytes {
			return &LimitError{Limit: LimitAttributeBytes, Max: MaxAttributeBytes, What: "object attributes"}
		}
		if n == 0 {
			return nil
		}
		if depth > MaxAttributeDepth {
			return &LimitError{Limit: LimitAttributeDepth, Max: MaxAttributeDepth, What: path}
		}
		if n > MaxAttributeListLen {
			return &LimitError{Limit: LimitAttributeListLen, Max: MaxAttributeListLen,
				What: fmt.Sprintf("%s has %d elements", path, n)}
		}
		switch v := v.(type) {
		case map[string]any:
			for k, e := range v {
				size += len(k)
				if err := walk(e, path+"."+k, depth+1); err != nil {
					return err
				}
			}
		case []any:
			for i, e := range v {
				if err := walk(e, path+"["+strconv.Itoa(i)+"]", depth+1); err != nil {
					return err
				}
			}
		}
		return nil
	}
	return walk(attrs, "attributes", 1)
}

// walkReflect walks the elements of a map, slice or array that is not one
// of JSON's, with walk, and the keys of a map as strings.
func walkReflect(r reflect.Value, path string, depth int, walk func(v any, path string, depth int) error) error {
	if r.Kind() == reflect.Map {
		keys := make(map[string]any, r.Len())
		for it := r.MapRange(); it.Next(); {
			keys[fmt.Sprint(it.Key().Interface())] = it.Value().Interface()
		}
		return walk(keys, path, depth)
	}
	elems := make([]any, r.Len())
	for i := range elems {
		elems[i] = r.Index(i).Interface()
	}
	return walk(elems, path, depth)
}

// Bounds of rule evaluation. A CEL evaluation stops at celCostLimit steps
// (cel.go); these bound a request's evaluations together and each one's
// time, for the work that steps do not see.
const (
	// DefaultRuleSteps is the default of WithRuleSteps: the CEL steps all
	// the rules of one request may take together. A condition over a
	// user's groups and an object's attributes takes some hundreds, so a
	// full checkMany of a thousand objects fits several times over, while
	// ten evaluations at celCostLimit spend it: some tens of
	// milliseconds of one core.
	DefaultRuleSteps = 1_000_000
	// DefaultRuleTimeout is the default of WithRuleTimeout: how long one
	// rule's evaluation may run. A rule takes microseconds, or a
	// statement's milliseconds when it first reads the user or the
	// project; a second is room for a slow database, and stops an
	// evaluation that steps do not bound (comparisons of large nested
	// values) long before the request's own deadline.
	DefaultRuleTimeout = time.Second
	// DefaultRuleRequestTime is the default of WithRuleRequestTime: how
	// long all the rule evaluations of one request may run together. CEL's
	// cost tracker takes time that grows with the square of a
	// comprehension's length (a 5,000-element exists() ran 44 ms, 20,000
	// elements 767 ms), which steps do not show; two seconds leave a
	// thousand ordinary evaluations their microseconds many times over,
	// and stop a request's rules well before its deadline.
	DefaultRuleRequestTime = 2 * time.Second
)

// WithRuleSteps bounds the CEL steps that the rules of one request (one
// request cache; one batch without one) may take together, DefaultRuleSteps
// by default. A rule that would start after they are spent denies, and
// its log says why.
func WithRuleSteps(steps int64) Option {
	return func(e *Engine) {
		if steps > 0 {
			e.ruleSteps = uint64(steps)
		}
	}
}

// WithRuleRequestTime bounds the time all the rule evaluations of one
// request may run together, DefaultRuleRequestTime by default. A rule that
// would start after it is spent denies, and its log says why.
func WithRuleRequestTime(d time.Duration) Option {
	return func(e *Engine) {
		if d > 0 {
			e.ruleRequestTime = d
		}
	}
}

// WithRuleTimeout bounds the time one rule's evaluation may run,
// DefaultRuleTimeout by default. A rule stopped by it denies, and its log
// says why.
func WithRuleTimeout(d time.Duration) Option {
	return func(e *Engine) {
		if d > 0 {
			e.ruleTimeout = d
		}
	}
}

// requestBudget counts what a request's checks have spent of the bounds
// shared by the whole request: the CEL steps of its rules, and the lines
// of its decision logs.
type requestBudget struct {
	ruleSteps atomic.Uint64
	ruleTime  atomic.Int64 // nanoseconds of outermost evaluations
	logLines  atomic.Int64
}

// checkEvery is how many checks a loop over a batch makes between looks at
// its context: often enough that a request past its deadline stops within
// microseconds, rarely enough to cost nothing.
const checkEvery = 64

// errOutOfTime answers a check whose request ran out of time, or whose
// client went away, before the engine finished: it is an ErrUnavailable
// error, as when the database does not answer in time, and never a
// decision.
type errOutOfTime struct{ cause error }

func (e *errOutOfTime) Error() string {
	return "the request ran out of time before its checks were done: " + e.cause.Error()
}
func (e *errOutOfTime) Unwrap() error        { return e.cause }
func (e *errOutOfTime) Is(target error) bool { return target == ErrUnavailable }

// interrupted returns an errOutOfTime when ctx is done, and nil otherwise.
func interrupted(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return &errOutOfTime{cause: err}
	}
	return nil
}

// interruptedAt is interrupted, looked at once every checkEvery steps of a
// loop (i is the step).
func interruptedAt(ctx context.Context, i int) error {
	if i%checkEvery != 0 {
		return nil
	}
	return interrupted(ctx)
}

// Bounds of a decision log. A rule that checks other permissions in a
// comprehension pulls in their logs once per call: forty times forty
// hasPerm calls wrote 3,203 lines, and each level of nesting multiplies
// that. A log keeps at most MaxLogLines lines and MaxLogBytes bytes of
// text and tags; past them, a rule's lines are counted and left out, and
// one line says how many. The decision does not change.
const (
	MaxLogLines = 1000
	MaxLogBytes = 64 << 10
)

// MaxRequestLogLines bounds the lines of all the decision logs of one
// request: a thousand checks of a hundred lines each. A rule's log keeps
// MaxLogLines lines, and a rule can pull a nested check's whole log in
// with one cheap call, so that a batch of checks of distinct objects
// could otherwise write hundreds of thousands of lines. Past the bound, a
// log keeps its first and last lines and one that says how many were
// left out.
const MaxRequestLogLines = 100_000

// withinRequestLines returns body, or, when the request's logs have no
// room left for it, its first line, a line saying how many were left out
// and its last line. It counts what it returns against budget.
func withinRequestLines(budget *requestBudget, body []LogEntry) []LogEntry {
	n := int64(len(body))
	if budget.logLines.Add(n) <= MaxRequestLogLines || n <= 3 {
		return body
	}
	budget.logLines.Add(3 - n)
	return []LogEntry{body[0],
		autoLine(fmt.Sprintf("%d lines left out: the decision logs of one request keep at most %d lines", n-2, MaxRequestLogLines)),
		body[n-1]}
}

// logReserveLines and logReserveBytes are kept, out of the bounds, for
// the lines a log always has besides a rule's: the verbosity-2 header (4
// lines), the line counting those left out, the rule's error and the
// result.
const (
	logReserveLines = 8
	logReserveBytes = 4 << 10
	// maxErrorLineBytes bounds the text of a "Rule error" line.
	maxErrorLineBytes = 1 << 10
)

// ruleLog is the log body a rule writes, bounded.
type ruleLog struct {
	lines   []LogEntry
	bytes   int
	omitted int
}

// add appends l, or counts it as left out once the body is full.
func (b *ruleLog) add(l LogEntry) {
	n := len(l.Text)
	for _, t := range l.Tags {
		n += len(t)
	}
	if b.omitted > 0 || len(b.lines) >= MaxLogLines-logReserveLines || b.bytes+n > MaxLogBytes-logReserveBytes {
		b.omitted++
		return
	}
	b.lines = append(b.lines, l)
	b.bytes += n
}

// finish appends, out of the bounds, the line that counts the lines left
// out (if any), the rule's error (if any) and the result line.
func (b *ruleLog) finish(ruleErr error, allowed bool) []LogEntry {
	if b.omitted > 0 {
		b.lines = append(b.lines, autoLine(fmt.Sprintf("%d lines left out: a decision log keeps at most %d lines and %d bytes",
			b.omitted, MaxLogLines, MaxLogBytes)))
	}
	if ruleErr != nil {
		b.lines = append(b.lines, autoLine(truncate(lineRuleError+ruleErr.Error(), maxErrorLineBytes)))
	}
	return append(b.lines, resultLine(allowed))
}

// truncate cuts s to at most n bytes, at a rune boundary, marking the cut.
func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	cut := n - len("…")
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + "…"
}
