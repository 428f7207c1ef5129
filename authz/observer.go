package authz

import "context"

// Observer is told of every decision the engine makes and of every check
// that failed, for metrics. ObserveDecision runs on the check's goroutine,
// once per decision of a batch, so it must be cheap and safe for
// concurrent use.
type Observer interface {
	// ObserveDecision receives a decision, or the error that replaced the
	// decisions of a whole batch (then d holds only the permission of the
	// batch's first request).
	ObserveDecision(d Decision, err error)
}

// WithObserver makes the engine report its decisions to o.
func WithObserver(o Observer) Option {
	return func(e *Engine) { e.observer = o }
}

// observe reports a batch's decisions, or its error, to the observer.
func (e *Engine) observe(reqs []CheckRequest, ds []Decision, err error) {
	if e.observer == nil {
		return
	}
	if err != nil {
		d := Decision{Reason: reasonForError(err)}
		if len(reqs) > 0 {
			d.Perm, d.Project = reqs[0].Perm, reqs[0].Project
		}
		e.observer.ObserveDecision(d, err)
		return
	}
	for _, d := range ds {
		e.observer.ObserveDecision(d, nil)
	}
}

// Consistency says how fresh the grants behind a check must be.
type Consistency int

const (
	// Cached answers from the shared cache when it holds the grants at the
	// newest revision the instance knows (see docs/consistency.md).
	Cached Consistency = iota
	// Full reads the grants from the database, bypassing the shared cache
	// (the request cache still serves repeated checks of one request).
	Full
)

type consistencyKey struct{}

// WithConsistency returns a context whose checks use consistency c.
func WithConsistency(ctx context.Context, c Consistency) context.Context {
	return context.WithValue(ctx, consistencyKey{}, c)
}

// consistencyFrom returns the context's consistency, Cached by default.
func consistencyFrom(ctx context.Context) Consistency {
	c, _ := ctx.Value(consistencyKey{}).(Consistency)
	return c
}
