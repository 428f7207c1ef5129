package models

import (
	"context"
	"strings"
	"sync/atomic"

	"gorm.io/gorm"
)

// StatementCounter counts the SQL statements gorm runs for contexts made by
// WithCounting. Tests and the load generator use it to hold the engine to
// its statement budget.
type StatementCounter struct {
	total       atomic.Int64
	permissions atomic.Int64
}

type counterKey struct{}

// WithCounting returns a context whose statements are added to c.
func (c *StatementCounter) WithCounting(ctx context.Context) context.Context {
	return context.WithValue(ctx, counterKey{}, c)
}

// Count returns the statements counted so far.
func (c *StatementCounter) Count() int64 { return c.total.Load() }

// Permissions returns how many of the counted statements read grants:
// those that name a grant table (checks, prefetches, reverse questions),
// as opposed to those that load data.
func (c *StatementCounter) Permissions() int64 { return c.permissions.Load() }

// Reset sets the counts back to zero.
func (c *StatementCounter) Reset() { c.total.Store(0); c.permissions.Store(0) }

// grantTables are the tables whose mention makes a statement a permission
// statement.
var grantTables = []string{"user_permissions", "group_permissions", "project_permission"}

// statements counts every statement gorm has run in this process, whatever
// its context, for the grantql_sql_statements_total metric.
var statements atomic.Int64

// Statements returns how many SQL statements gorm has run in this process,
// over every database handle Open returned.
func Statements() int64 { return statements.Load() }

// counterCallback is registered after every kind of statement gorm runs.
func counterCallback(db *gorm.DB) {
	if db.Statement == nil || db.Statement.Context == nil {
		statements.Add(1)
		return
	}
	count(db.Statement.Context, db.Statement.SQL.String())
}

// count adds one statement to the process's total and to ctx's counter,
// if it has one.
func count(ctx context.Context, sql string) {
	statements.Add(1)
	if c, ok := ctx.Value(counterKey{}).(*StatementCounter); ok {
		c.total.Add(1)
		for _, t := range grantTables {
			if strings.Contains(sql, t) {
				c.permissions.Add(1)
				break
			}
		}
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
