package models

import (
	"context"
	"errors"

	"github.com/grantql/grantql/authz"
	"github.com/jackc/pgx/v5/pgconn"
	"gorm.io/gorm"
)

// foreignKeyViolation is PostgreSQL's SQLSTATE for a row that references
// one that is not there, which gorm translates to gorm.ErrForeignKeyViolated
// and a statement run on pgx directly reports as it is.
const foreignKeyViolation = "23503"

// parentRow is a row that a write references: the project of a grant, the
// user of a token, and so on.
type parentRow struct {
	kind, table string
	id          int64
}

// Parents of writes, by kind.
func projectRow(id int64) parentRow    { return parentRow{"project", "projects", id} }
func userRow(id int64) parentRow       { return parentRow{"user", "users", id} }
func groupRow(id int64) parentRow      { return parentRow{"group", "groups", id} }
func permissionRow(id int64) parentRow { return parentRow{"permission", "permissions", id} }

// holderRow is the user or the group of a holder.
func holderRow(h authz.Holder) parentRow {
	if h.User > 0 {
		return userRow(h.User)
	}
	return groupRow(h.Group)
}

// vanished turns the foreign-key violation of a write into the
// *authz.NotFoundError of the parent that is gone. A write checks that
// its parents exist before it inserts, but on PostgreSQL a concurrent
// delete (deleteProject while a grant in the project is made) can commit
// between the check and the insert; the parent was deleted, so the answer
// is the one the write gives when it comes second: NOT_FOUND. The missing
// parent is found with one statement per parent, on this error path only.
// Any other error is returned as it is, and so is a violation whose
// parents all exist.
func (s *Store) vanished(ctx context.Context, err error, parents ...parentRow) error {
	var pgErr *pgconn.PgError
	if !errors.Is(err, gorm.ErrForeignKeyViolated) && !(errors.As(err, &pgErr) && pgErr.Code == foreignKeyViolation) {
		return err
	}
	for _, p := range parents {
		if p.id <= 0 {
			continue
		}
		if e := exists(s.db.WithContext(ctx), p.kind, p.table, p.id); e != nil {
			return e
		}
	}
	return err
}
