package models_test

import (
	"context"
	"testing"
	"time"

	"github.com/grantql/grantql/internal/dbtest"
	"github.com/grantql/grantql/models"
)

// TestRevisionPollBesideBusyPool: the revision, which the shared cache
// polls, is read while every connection of the requests' pool is taken,
// and follows the writes; on the requests' pool the poll waited behind
// them until it timed out, and the cache stopped serving everyone.
func TestRevisionPollBesideBusyPool(t *testing.T) {
	dbtest.Run(t, func(t *testing.T, db *models.DB) {
		store := models.NewStore(db)
		ctx := context.Background()
		before, err := store.Revision(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := store.CreateGroup(ctx, "g"); err != nil {
			t.Fatal(err)
		}

		pool := db.SQL()
		open := pool.Stats().MaxOpenConnections
		pool.SetMaxOpenConns(1)
		conn, err := pool.Conn(ctx)
		if err != nil {
			t.Fatal(err)
		}
		defer func() {
			conn.Close()
			pool.SetMaxOpenConns(open)
		}()
		// Long enough for any database to answer; the requests' pool
		// would make the read wait for ever.
		rctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		defer cancel()
		after, err := store.Revision(rctx)
		if err != nil {
			t.Fatalf("Revision with the requests' pool taken = %v, want the revision", err)
		}
		if after <= before {
			t.Errorf("Revision after a write = %d, want more than %d", after, before)
		}
	})
}
