package models

import (
	"context"
	"sync/atomic"

	"gorm.io/gorm"
)

// StatementCounter counts the SQL statements gorm runs for contexts made by
// WithCounting. Tests and the load generator use it to hold the engine to
// its statement budget.
type StatementCounter struct {
	total atomic.Int64
}

type counterKey struct{}

// WithCounting returns a context whose statements are added to c.
func (c *StatementCounter) WithCounting(ctx context.Context) context.Context {
	return context.WithValue(ctx, counterKey{}, c)
}

// Count returns the statements counted so far.
func (c *StatementCounter) Count() int64 { return c.total.Load() }

// Reset sets the count back to zero.
func (c *StatementCounter) Reset() { c.total.Store(0) }

// counterCallback is registered after every kind of statement gorm runs.
func counterCallback(db *gorm.DB) {
	if db.Statement == nil || db.Statement.Context == nil {
		return
	}
	if c, ok := db.Statement.Context.Value(counterKey{}).(*StatementCounter); ok {
		c.total.Add(1)
	}
}

// registerCounter hooks counterCallback into gorm's processors once per
// database handle.
func registerCounter(db *gorm.DB) error {
	cb := db.Callback()
	for _, err := range []error{
		cb.Query().After("*").Register("grantql:count_query", counterCallback),
		cb.Create().After("*").Register("grantql:count_create", counterCallback),
		cb.Update().After("*").Register("grantql:count_update", counterCallback),
		cb.Delete().After("*").Register("grantql:count_delete", counterCallback),
		cb.Row().After("*").Register("grantql:count_row", counterCallback),
		cb.Raw().After("*").Register("grantql:count_raw", counterCallback),
	} {
		if err != nil {
			return err
		}
	}
	return nil
}
