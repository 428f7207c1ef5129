package models

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/grantql/grantql/authz"
	"github.com/jackc/pgx/v5"
)

var _ authz.RevisionFeed = (*Store)(nil)

// revisionChannel is the channel migration 00006's trigger notifies.
const revisionChannel = "grantql_revision"

// feedPingInterval is how often a quiet revision feed checks its
// connection: a connection that died without a word (a cut network) is
// noticed within this time plus the ping's timeout, and the shared cache
// stops serving.
const feedPingInterval = time.Second

// revisionQuery reads the revision of migration 00006's single row.
const revisionQuery = "SELECT revision FROM authz_revision WHERE id = 1"

// Revision implements authz.RevisionFeed: the newest committed revision,
// read on a connection of its own (openRevisionPool), so that the shared
// cache's poll never waits for one behind the requests.
func (s *Store) Revision(ctx context.Context) (int64, error) {
	count(ctx, revisionQuery)
	var rev int64
	if err := s.revision.QueryRowContext(ctx, revisionQuery).Scan(&rev); err != nil {
		return 0, dbError("read the revision", err)
	}
	return rev, nil
}

// WatchRevisions implements authz.RevisionFeed with PostgreSQL's LISTEN on
// a connection of its own; SQLite has no push, and answers
// authz.ErrNoRevisionFeed.
func (s *Store) WatchRevisions(ctx context.Context, ready func() error, seen func(int64)) error {
	if s.dialect != Postgres {
		return authz.ErrNoRevisionFeed
	}
	cctx, cancel := context.WithTimeout(ctx, feedPingInterval*5)
	conn, err := pgx.Connect(cctx, s.url)
	cancel()
	if err != nil {
		return fmt.Errorf("connect the revision feed: %w", err)
	}
	defer conn.Close(context.WithoutCancel(ctx))
	if _, err := conn.Exec(ctx, "LISTEN "+revisionChannel); err != nil {
		return fmt.Errorf("listen for revisions: %w", err)
	}
	if err := ready(); err != nil {
		return err
	}
	for {
		wctx, cancel := context.WithTimeout(ctx, feedPingInterval)
		n, err := conn.WaitForNotification(wctx)
		cancel()
		switch {
		case err == nil:
			rev, perr := strconv.ParseInt(n.Payload, 10, 64)
			if perr != nil {
				return fmt.Errorf("revision notification %q: %w", n.Payload, perr)
			}
			seen(rev)
		case ctx.Err() != nil:
			return ctx.Err()
		case errors.Is(err, context.DeadlineExceeded) || wctx.Err() != nil:
			// Quiet for a while: make sure the connection still answers.
			pctx, cancel := context.WithTimeout(ctx, feedPingInterval)
			err := conn.Ping(pctx)
			cancel()
			if err != nil {
				return fmt.Errorf("revision feed ping: %w", err)
			}
		default:
			return fmt.Errorf("wait for revisions: %w", err)
		}
	}
}
